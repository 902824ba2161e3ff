"""Debian's prometheus-libvirt-exporter (a Go client of libvirt's C library) pointed at the daemon."""
import re, shutil, subprocess, urllib.request

import pytest

from daemons import free_port, virsh, wait_ready, wait_until

EXPORTER = shutil.which("prometheus-libvirt-exporter")


def metrics(text, name, **labels):
    """Values of metric `name` whose labels include `labels`."""
    out = []
    for m in re.finditer(rf"^{name}{{([^}}]*)}} (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            out.append(float(m.group(2)))
    return out


@pytest.mark.skipif(EXPORTER is None, reason="prometheus-libvirt-exporter is not installed (scripts/setup.sh)")
def test_exporter_scrapes_running_guest(daemon, define, guest, tmp_path):
    define(guest)
    virsh(daemon.uri, "start", guest)
    wait_ready(daemon, guest)
    port = free_port()
    log = open(tmp_path / "exporter.log", "w")
    p = subprocess.Popen([EXPORTER, f"--libvirt.uri={daemon.uri}", f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def scrape():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    return r.read().decode()
            except OSError:
                assert p.poll() is None, f"exporter exited: {(tmp_path / 'exporter.log').read_text()}"
                return None
        text = wait_until(scrape, 20, "the exporter's /metrics", interval=0.2)
        assert re.search(r"^libvirt_up 1$", text, re.M), text
        uuid = virsh(daemon.uri, "domuuid", guest).stdout.strip()
        dom = {"domain": guest, "uuid": uuid}
        assert metrics(text, "libvirt_domain_state_code", **dom) == [1.0], text
        assert metrics(text, "libvirt_domain_info_virtual_cpus", **dom) == [1.0]
        assert metrics(text, "libvirt_domain_info_maximum_memory_bytes", **dom) == [256 * 1024 * 1024]
        assert metrics(text, "libvirt_domain_info_cpu_time_seconds_total", **dom)[0] > 0
        # The guest mounted its data disk, so it has read from it.
        assert metrics(text, "libvirt_domain_block_stats_read_bytes_total", target_device="vda", **dom)[0] > 0
        assert int(re.search(r"^libvirt_domains_number (\d+)$", text, re.M).group(1)) >= 1
    finally:
        p.terminate()
        p.wait(10)
        log.close()
