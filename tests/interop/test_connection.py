"""Connection-level calls that virt-manager, virt-top and monitoring tools make first, through virsh
and python3-libvirt; shapes as libvirtd answers them."""
import re, socket

import pytest

from daemons import virsh, wait_ready

libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing: run with /usr/bin/python3 after scripts/setup.sh")


def test_virsh_host_info(daemon):
    uri = daemon.uri
    assert virsh(uri, "hostname").stdout.strip() == socket.gethostname()
    ver = virsh(uri, "version").stdout
    assert re.search(r"^Running hypervisor: QEMU \d+\.\d+\.\d+$", ver, re.M), ver
    node = virsh(uri, "nodeinfo").stdout
    assert re.search(r"^CPU\(s\):\s+\d+$", node, re.M) and re.search(r"^Memory size:\s+\d+ KiB$", node, re.M), node
    caps = virsh(uri, "capabilities").stdout
    assert caps.lstrip().startswith("<capabilities>") and "<host>" in caps and "<arch>x86_64</arch>" in caps
    guest_x86 = re.search(r"<guest>\s*<os_type>hvm</os_type>\s*<arch name='x86_64'>(.*?)</arch>", caps, re.S)
    assert guest_x86 and "<domain type='qemu'" in guest_x86.group(1), caps


def test_python_monitoring_calls(daemon, define, guest):
    define(guest)
    virsh(daemon.uri, "start", guest)
    wait_ready(daemon, guest)
    conn = libvirt.openReadOnly(daemon.uri_ro)
    try:
        assert conn.isAlive() == 1
        assert conn.getType() == "QEMU" and conn.getVersion() >= 1_000_000 and conn.getLibVersion() >= 1_000_000
        assert conn.getHostname() == socket.gethostname()
        model, mem_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
        assert model == "x86_64" and mem_mib > 0 and cpus >= 1
        assert conn.numOfDomains() >= 1 and conn.numOfDefinedDomains() >= 0
        dom = conn.lookupByName(guest)
        assert dom.ID() in conn.listDomainsID()
        assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
        assert dom.OSType() == "hvm" and dom.maxVcpus() == 1 and dom.autostart() == 0
        rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats("vda")
        assert rd_req > 0 and rd_bytes > 0
        mem = dom.memoryStats()
        assert mem.get("actual") == 262144, mem
        (vcpu_info,), _ = dom.vcpus()
        assert vcpu_info[0] == 0 and vcpu_info[1] == libvirt.VIR_VCPU_RUNNING and vcpu_info[2] > 0
        stats = dict((d.name(), s) for d, s in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE |
                                                                      libvirt.VIR_DOMAIN_STATS_CPU_TOTAL))
        assert stats[guest]["state.state"] == libvirt.VIR_DOMAIN_RUNNING and stats[guest]["cpu.time"] > 0
        with pytest.raises(libvirt.libvirtError) as e:
            dom.destroy()
        assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED
    finally:
        conn.close()
