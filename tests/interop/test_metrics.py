"""corrald's own /metrics next to Debian's prometheus-libvirt-exporter scraping the same daemon:
the families both have carry the same type and, for the same guest, the same values."""
import re, shutil, subprocess, urllib.request

import pytest

from daemons import free_port, virsh, wait_ready, wait_until

EXPORTER = shutil.which("prometheus-libvirt-exporter")


def parse(text):
    """{name: type} and [(name, {label: value}, value)] of a Prometheus text page."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    samples = []
    for m in re.finditer(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", text, re.M):
        labels = {k: v for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def values(samples, name, **labels):
    return [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


@pytest.mark.skipif(EXPORTER is None, reason="prometheus-libvirt-exporter is not installed (scripts/setup.sh)")
def test_metrics_match_the_exporter(daemon, define, guest, tmp_path):
    if daemon.kind != "corrald":
        pytest.skip("libvirtd serves no /metrics: that is what the exporter is for")
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
                return get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                assert p.poll() is None, f"exporter exited: {(tmp_path / 'exporter.log').read_text()}"
                return None
        # Theirs first: our counters, read later, can only be larger.
        their_types, theirs = parse(wait_until(scrape, 20, "the exporter's /metrics", interval=0.2))
        our_types, ours = parse(get(f"{daemon.http_url}/metrics"))
    finally:
        p.terminate()
        p.wait(10)
        log.close()

    uuid = virsh(daemon.uri, "domuuid", guest).stdout.strip()
    dom = {"domain": guest, "uuid": uuid}
    local = dict(dom, connection="local")
    assert values(theirs, "libvirt_up") == [1.0]
    assert values(ours, "libvirt_up", connection="local") == [1.0]

    shared = [n for n in their_types if n.startswith("libvirt_domain") and n in our_types]
    # Every per-domain family of the exporter's that this guest has (no tap NIC: no interface stats).
    assert set(shared) >= {"libvirt_domain_state_code", "libvirt_domain_info_virtual_cpus",
                           "libvirt_domain_info_maximum_memory_bytes", "libvirt_domain_info_memory_usage_bytes",
                           "libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_block_stats_read_bytes_total",
                           "libvirt_domain_block_stats_read_requests_total", "libvirt_domain_block_stats_write_bytes_total",
                           "libvirt_domain_block_stats_write_requests_total"}, shared
    for name in shared:
        assert our_types[name] == their_types[name], name

    for name in ["libvirt_domain_state_code", "libvirt_domain_info_virtual_cpus",
                 "libvirt_domain_info_maximum_memory_bytes", "libvirt_domain_info_memory_usage_bytes"]:
        assert values(ours, name, **local) == values(theirs, name, **dom), name
    vda = {"target_device": "vda"}
    for name in ["libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_block_stats_read_bytes_total"]:
        labels = vda if "block" in name else {}
        (t,), (o,) = values(theirs, name, **dom, **labels), values(ours, name, **local, **labels)
        assert 0 < t <= o, (name, t, o)
    # Same device labels as the exporter's, so its dashboards' selectors match.
    (src,) = [l["source_file"] for n, l, _ in theirs if n == "libvirt_domain_block_stats_read_bytes_total" and l.get("domain") == guest]
    assert values(ours, "libvirt_domain_block_stats_read_bytes_total", source_file=src, **local, **vda)
