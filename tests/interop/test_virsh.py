"""The real virsh against the daemon, over the unix socket and over plain TCP."""
import os, pty, re, select, subprocess, threading, time

import pytest

from daemons import READY, virsh, wait_ready, wait_until


def state(uri, name):
    return virsh(uri, "domstate", name).stdout.strip()


def wait_state(uri, name, want, timeout=60):
    return wait_until(lambda: state(uri, name) == want, timeout, f"{name} to be {want}", interval=0.2)


@pytest.fixture(params=["unix", "tcp"])
def uri(request, daemon):
    return daemon.uri if request.param == "unix" else daemon.tcp_uri


def test_define_list_dumpxml_undefine(daemon, uri, define, guest):
    define(guest, uri)
    rows = virsh(uri, "list", "--all").stdout
    assert re.search(rf"^\s*-\s+{guest}\s+shut off\s*$", rows, re.M), rows
    assert guest not in virsh(uri, "list").stdout
    xml = virsh(uri, "dumpxml", guest).stdout
    assert f"<name>{guest}</name>" in xml and "<uuid>" in xml and "type='qemu'" in xml
    info = virsh(uri, "dominfo", guest).stdout
    assert re.search(r"^State:\s+shut off$", info, re.M), info
    assert re.search(r"^Persistent:\s+yes$", info, re.M), info
    assert re.search(r"^Max memory:\s+262144 KiB$", info, re.M), info
    assert state(uri, guest) == "shut off"
    assert f"Domain '{guest}' has been undefined" in virsh(uri, "undefine", guest).stdout
    assert guest not in virsh(uri, "list", "--all").stdout
    err = virsh(uri, "domstate", guest, check=False)
    assert err.returncode == 1 and f"failed to get domain '{guest}'" in err.stderr, err.stderr


def test_lifecycle(daemon, uri, define, guest):
    define(guest, uri)
    assert f"Domain '{guest}' started" in virsh(uri, "start", guest).stdout
    assert state(uri, guest) == "running"
    assert re.search(rf"^\s*\d+\s+{guest}\s+running\s*$", virsh(uri, "list").stdout, re.M)
    info = virsh(uri, "dominfo", guest).stdout
    assert re.search(r"^State:\s+running$", info, re.M) and re.search(r"^Id:\s+\d+$", info, re.M), info
    wait_ready(daemon, guest)

    assert f"Domain '{guest}' suspended" in virsh(uri, "suspend", guest).stdout
    assert state(uri, guest) == "paused"
    assert f"Domain '{guest}' resumed" in virsh(uri, "resume", guest).stdout
    assert state(uri, guest) == "running"

    stats = virsh(uri, "domstats", guest).stdout
    assert f"Domain: '{guest}'" in stats
    for key in ("state.state=1", "cpu.time=", "balloon.current=262144", "vcpu.current=1", "block.count=1",
                "block.0.name=vda", "net.count=1"):
        assert key in stats, f"{key} missing from domstats:\n{stats}"

    # ACPI power button: the guest powers itself off.
    assert f"Domain '{guest}' is being shutdown" in virsh(uri, "shutdown", guest).stdout
    wait_state(uri, guest, "shut off")
    assert virsh(uri, "domstate", "--reason", guest).stdout.strip() == "shut off (shutdown)"

    virsh(uri, "start", guest)
    assert f"Domain '{guest}' destroyed" in virsh(uri, "destroy", guest).stdout
    assert state(uri, guest) == "shut off"
    err = virsh(uri, "destroy", guest, check=False)
    assert err.returncode == 1 and "domain is not running" in err.stderr, err.stderr


def test_console(daemon, uri, define, guest):
    define(guest, uri)
    virsh(uri, "start", guest)
    master, slave = pty.openpty()
    p = subprocess.Popen(["virsh", "-c", uri, "console", guest], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, env=dict(os.environ, LC_ALL="C", TERM="vt100"))
    os.close(slave)
    seen = b""

    def expect(pattern, timeout=90):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while pattern not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen on the console; got:\n{seen[-2000:].decode(errors='replace')}"
            if select.select([master], [], [], min(left, 0.5))[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert pattern in seen, f"console closed before {pattern!r}:\n{seen[-2000:].decode(errors='replace')}"
        at = seen.index(pattern) + len(pattern)
        seen = seen[at:]

    try:
        expect(b"Escape character is ^]")
        expect(READY.encode())
        os.write(master, b"\n")
        expect(b"tiny# ")
        os.write(master, b"cat /mnt/data/hello.txt; echo $((6*7))x\n")
        expect(b"corral data disk")
        expect(b"42x")
        os.write(master, b"\x1d")  # ^] leaves the console
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_events(daemon, uri, define, guest):
    define(guest, uri)
    # stdbuf: virsh's event lines go through stdio, block-buffered on a pipe.
    ev = subprocess.Popen(["stdbuf", "-oL", "virsh", "-c", uri, "event", "--loop", "--all"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=dict(os.environ, LC_ALL="C"))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in ev.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)  # lets the event registration reach the daemon before the first change
        virsh(uri, "start", guest)
        virsh(uri, "suspend", guest)
        virsh(uri, "resume", guest)
        virsh(uri, "destroy", guest)
        want = [f"event 'lifecycle' for domain '{guest}': {e}" for e in
                ("Started Booted", "Suspended Paused", "Resumed Unpaused", "Stopped Destroyed")]
        wait_until(lambda: all(w in lines for w in want) or reader.is_alive() is False, 20, "the events",
                   interval=0.1)
        for w in want:
            assert w in lines, f"missing {w!r}; got {lines}"
        # In this order, with others allowed between (libvirtd also reports "Resumed Unpaused" when
        # a start resumes the vCPUs, and "Shutdown Finished after host request" before a destroy).
        at = 0
        for w in want:
            assert w in lines[at:], f"{w!r} not after {want[:want.index(w)]}: {lines}"
            at = lines.index(w, at) + 1
    finally:
        ev.terminate()
        ev.wait(10)


def test_readonly_socket_refuses_mutations(daemon, define, guest):
    define(guest)
    ro = daemon.uri_ro
    assert guest in virsh(ro, "list", "--all").stdout
    assert f"<name>{guest}</name>" in virsh(ro, "dumpxml", guest).stdout
    assert virsh(ro, "domstate", guest).stdout.strip() == "shut off"
    for args, api in ((["start", guest], "virDomainCreate"), (["undefine", guest], "virDomainUndefine"),
                      (["destroy", guest], "virDomainDestroy")):
        p = virsh(ro, *args, check=False)
        assert p.returncode == 1, p
        assert f"operation forbidden: read only access prevents {api}" in p.stderr, p.stderr
    p = virsh(ro, "define", "/dev/null", check=False)
    assert p.returncode == 1
    assert virsh(daemon.uri, "domstate", guest).stdout.strip() == "shut off"


def test_restart_keeps_guest(daemon, define, guest):
    define(guest)
    virsh(daemon.uri, "start", guest)
    wait_ready(daemon, guest)
    domid = virsh(daemon.uri, "domid", guest).stdout.strip()
    before = daemon.pid()
    daemon.restart()
    assert daemon.pid() != before
    assert state(daemon.uri, guest) == "running"
    assert virsh(daemon.uri, "domid", guest).stdout.strip() == domid
    assert "state.state=1" in virsh(daemon.uri, "domstats", guest).stdout
    virsh(daemon.uri, "suspend", guest)
    assert state(daemon.uri, guest) == "paused"
    assert f"Domain '{guest}' destroyed" in virsh(daemon.uri, "destroy", guest).stdout
    assert state(daemon.uri, guest) == "shut off"
