"""Interop suite: the same real clients (virsh, python3-libvirt, prometheus-libvirt-exporter) against
a real libvirtd (the oracle) and against corrald.

INTEROP_TARGETS=libvirtd,corrald (the default) picks the daemons; corrald's tests skip, saying why,
until .build/debug/corrald exists (or CORRALD=/path). Each daemon gets a temporary root and free ports
and is stopped by PID at the end. Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/interop
"""
import itertools, os, shutil, sys, tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemons  # noqa: E402

TARGETS = [t.strip() for t in os.environ.get("INTEROP_TARGETS", "libvirtd,corrald").split(",") if t.strip()]
_names = itertools.count(1)


# corrald checks known to fail, with what libvirtd does instead: reported as xfail (XPASS once fixed;
# then delete the entry) so the suite stays a gate for everything else. Keep this list short.
KNOWN_CORRALD_GAPS = {
    "test_inactive_xml_matches_libvirtd": "libvirtd expands machine 'pc' to 'pc-i440fx-7.2', adds <boot dev='hd'/> "
                                          "and <cpu mode='custom'><model>qemu64</model></cpu>; corrald does not",
    "test_live_xml_essentials": "corrald's live XML lacks <console tty='/dev/pts/N'> and the device <alias> names",
    "test_domstats_block_sizes": "domstats has no block.N.capacity/allocation/physical (libvirtd reports them)",
}


def pytest_configure(config):
    daemons.become_subreaper()


def pytest_collection_modifyitems(config, items):
    for item in items:
        cs = getattr(item, "callspec", None)
        if cs and cs.params.get("daemon") == "corrald" and item.originalname in KNOWN_CORRALD_GAPS:
            item.add_marker(pytest.mark.xfail(reason=KNOWN_CORRALD_GAPS[item.originalname], strict=False))


@pytest.fixture(scope="session")
def tiny_xml():
    return daemons.ensure_tiny_guest()


@pytest.fixture(scope="session", params=TARGETS)
def daemon(request, tiny_xml):
    kind = request.param
    if kind == "corrald" and (why := daemons.corrald_missing_reason()):
        pytest.skip(why)
    for tool in ("virsh", "qemu-img"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    if kind == "libvirtd" and not os.path.exists("/usr/sbin/libvirtd"):
        pytest.skip("libvirtd is not installed (scripts/setup.sh installs libvirt-daemon)")
    workdir = tempfile.mkdtemp(prefix=f"interop-{kind}-")
    d = daemons.make_daemon(kind, workdir)
    d.start()
    yield d
    d.stop()
    if os.environ.get("INTEROP_KEEP") != "1":
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def guest(daemon, request):
    """A fresh domain name whose definition is cleaned up after the test."""
    name = f"it{next(_names)}-{request.node.originalname.removeprefix('test_')[:20]}"
    yield name
    daemons.virsh(daemon.uri, "destroy", name, check=False)
    daemons.virsh(daemon.uri, "undefine", name, check=False)


@pytest.fixture
def define(daemon, tmp_path):
    """define(name, uri=daemon.uri) defines the tiny guest under `name` with `virsh define`."""
    def _define(name, uri=None, disk=True):
        path = tmp_path / f"{name}.xml"
        path.write_text(daemon.domain_xml(name, disk=disk))
        out = daemons.virsh(uri or daemon.uri, "define", str(path)).stdout
        assert f"Domain '{name}' defined" in out
        return path
    return _define


@pytest.fixture(scope="session")
def oracle(daemon):
    """A libvirtd to compare the daemon under test with (skips when that daemon is libvirtd)."""
    if daemon.kind == "libvirtd":
        pytest.skip("compares another daemon with libvirtd")
    workdir = tempfile.mkdtemp(prefix="interop-oracle-")
    d = daemons.make_daemon("libvirtd", workdir)
    d.start()
    yield d
    d.stop()
    if os.environ.get("INTEROP_KEEP") != "1":
        shutil.rmtree(workdir, ignore_errors=True)
