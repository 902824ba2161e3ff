"""Issue 5 with real clients: storage pools and volumes (virsh pool-*/vol-*, streams up and down),
virtual networks (net-*), persistent disk changes (attach-disk/detach-disk --config), and the same
through python3-libvirt. libvirtd never starts a network here: in system mode that would create a
bridge, dnsmasq and firewall rules on the host; corrald runs with --root, so its networks are
session-mode (QEMU user networking) and start without touching the host."""
import itertools, os, re, subprocess, uuid

import pytest

from daemons import virsh

_ids = itertools.count(1)
MiB = 1 << 20


def qemu_img_info(path):
    return subprocess.run(["qemu-img", "info", "-U", path], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def pool(daemon, tmp_path):
    """A started dir pool on a fresh directory: (name, path). Destroyed and undefined afterwards."""
    name = f"itpool{next(_ids)}"
    path = tmp_path / name
    virsh(daemon.uri, "pool-define-as", name, "dir", "--target", str(path))
    virsh(daemon.uri, "pool-build", name)
    virsh(daemon.uri, "pool-start", name)
    yield name, str(path)
    virsh(daemon.uri, "pool-destroy", name, check=False)
    virsh(daemon.uri, "pool-undefine", name, check=False)


def vol_rows(uri, pool_name):
    """vol-list --details as {name: (path, type, capacity, allocation)}."""
    rows = {}
    for line in virsh(uri, "vol-list", pool_name, "--details").stdout.splitlines()[2:]:
        m = re.match(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\d+\.\d\d \S+)\s+(\d+\.\d\d \S+)\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2, 3, 4, 5)
    return rows


def test_pool_define_build_start_list_info_dumpxml_refresh(daemon, tmp_path):
    name = f"itpool{next(_ids)}"
    path = tmp_path / name
    out = virsh(daemon.uri, "pool-define-as", name, "dir", "--target", str(path)).stdout
    assert f"Pool {name} defined" in out
    try:
        assert re.search(rf"^\s*{name}\s+inactive\s+no\s*$", virsh(daemon.uri, "pool-list", "--all").stdout, re.M)
        assert f"Pool {name} built" in virsh(daemon.uri, "pool-build", name).stdout
        assert path.is_dir()
        assert f"Pool {name} started" in virsh(daemon.uri, "pool-start", name).stdout
        listing = virsh(daemon.uri, "pool-list").stdout
        assert re.search(rf"^\s*{name}\s+active\s+no\s*$", listing, re.M), listing
        info = virsh(daemon.uri, "pool-info", name).stdout
        for want in (rf"^Name:\s+{name}$", r"^State:\s+running$", r"^Persistent:\s+yes$", r"^Autostart:\s+no$",
                     r"^UUID:\s+[0-9a-f-]{36}$", r"^Capacity:\s+\d+\.\d\d \S+$", r"^Available:\s+\d+\.\d\d \S+$"):
            assert re.search(want, info, re.M), f"{want} not in:\n{info}"
        xml = virsh(daemon.uri, "pool-dumpxml", name).stdout
        assert "<pool type='dir'>" in xml and f"<name>{name}</name>" in xml and f"<path>{path}</path>" in xml, xml
        # A file put there behind the daemon's back appears after a refresh.
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path / "outside.qcow2"), "5M"], check=True)
        assert f"Pool {name} refreshed" in virsh(daemon.uri, "pool-refresh", name).stdout
        rows = vol_rows(daemon.uri, name)
        assert rows.get("outside.qcow2", ("",))[0] == str(path / "outside.qcow2"), rows
        assert rows["outside.qcow2"][2] == "5.00 MiB", rows
        assert f"Pool {name} destroyed" in virsh(daemon.uri, "pool-destroy", name).stdout
        assert re.search(rf"^\s*{name}\s+inactive\s+no\s*$", virsh(daemon.uri, "pool-list", "--all").stdout, re.M)
    finally:
        virsh(daemon.uri, "pool-destroy", name, check=False)
        out = virsh(daemon.uri, "pool-undefine", name, check=False)
    assert f"Pool {name} has been undefined" in out.stdout, out.stderr
    assert name not in virsh(daemon.uri, "pool-list", "--all").stdout


def test_volumes_raw_qcow2_backing_list_delete(daemon, pool):
    name, path = pool
    assert "Vol disk.img created" in virsh(daemon.uri, "vol-create-as", name, "disk.img", "4M", "--format", "raw").stdout
    virsh(daemon.uri, "vol-create-as", name, "base.qcow2", "8M", "--format", "qcow2")
    out = virsh(daemon.uri, "vol-create-as", name, "top.qcow2", "8M", "--format", "qcow2",
                "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2").stdout
    assert "Vol top.qcow2 created" in out
    rows = vol_rows(daemon.uri, name)
    assert set(rows) == {"disk.img", "base.qcow2", "top.qcow2"}, rows
    assert rows["disk.img"][:3] == (f"{path}/disk.img", "file", "4.00 MiB"), rows
    assert rows["base.qcow2"][:3] == (f"{path}/base.qcow2", "file", "8.00 MiB"), rows
    assert rows["top.qcow2"][:3] == (f"{path}/top.qcow2", "file", "8.00 MiB"), rows
    # The images are real: qemu-img agrees on format, size and backing file.
    assert "file format: raw" in qemu_img_info(f"{path}/disk.img")
    top = qemu_img_info(f"{path}/top.qcow2")
    assert "file format: qcow2" in top and "virtual size: 8 MiB" in top, top
    assert f"backing file: {path}/base.qcow2" in top, top
    xml = virsh(daemon.uri, "vol-dumpxml", "--pool", name, "top.qcow2").stdout
    assert re.search(rf"<backingStore>\s*<path>{re.escape(path)}/base.qcow2</path>\s*<format type='qcow2'/>", xml), xml
    info = virsh(daemon.uri, "vol-info", "--pool", name, "disk.img").stdout
    assert re.search(r"^Capacity:\s+4\.00 MiB$", info, re.M), info
    for vol in ("top.qcow2", "base.qcow2", "disk.img"):
        assert f"Vol {vol} deleted" in virsh(daemon.uri, "vol-delete", "--pool", name, vol).stdout
        assert not os.path.exists(f"{path}/{vol}")
    assert vol_rows(daemon.uri, name) == {}
    err = virsh(daemon.uri, "vol-info", "--pool", name, "disk.img", check=False)
    assert err.returncode == 1 and "Storage volume not found" in err.stderr, err.stderr


def test_vol_upload_download_identical_bytes(daemon, pool, tmp_path):
    name, path = pool
    data = os.urandom(3 * MiB + 4321)
    src, back = tmp_path / "up.bin", tmp_path / "down.bin"
    src.write_bytes(data)
    virsh(daemon.uri, "vol-create-as", name, "blob.img", str(len(data)), "--format", "raw")
    virsh(daemon.uri, "vol-upload", "--pool", name, "blob.img", str(src), timeout=120)
    with open(f"{path}/blob.img", "rb") as f:
        assert f.read() == data
    virsh(daemon.uri, "vol-download", "--pool", name, "blob.img", str(back), timeout=120)
    assert back.read_bytes() == data
    # A window of the volume: --offset/--length on the way down.
    part = tmp_path / "part.bin"
    virsh(daemon.uri, "vol-download", "--pool", name, "blob.img", str(part), "--offset", str(MiB), "--length", "1000")
    assert part.read_bytes() == data[MiB:MiB + 1000]
    virsh(daemon.uri, "vol-delete", "--pool", name, "blob.img")


def network_xml(name, third_octet):
    return f"""<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <ip address='10.213.{third_octet}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.213.{third_octet}.100' end='10.213.{third_octet}.199'/>
    </dhcp>
  </ip>
</network>
"""


@pytest.fixture
def network(daemon, tmp_path):
    """A defined (not started) NAT network: its name. Destroyed and undefined afterwards."""
    n = next(_ids)
    name = f"itnet{n}"
    xml = tmp_path / f"{name}.xml"
    xml.write_text(network_xml(name, 100 + n % 100))
    assert f"Network {name} defined from {xml}" in virsh(daemon.uri, "net-define", str(xml)).stdout
    yield name
    virsh(daemon.uri, "net-destroy", name, check=False)
    virsh(daemon.uri, "net-undefine", name, check=False)


def test_network_define_list_info_dumpxml_undefine(daemon, network):
    rows = virsh(daemon.uri, "net-list", "--all").stdout
    assert re.search(rf"^\s*{network}\s+inactive\s+no\s+yes\s*$", rows, re.M), rows
    assert network not in virsh(daemon.uri, "net-list").stdout
    info = virsh(daemon.uri, "net-info", network).stdout
    for want in (rf"^Name:\s+{network}$", r"^UUID:\s+[0-9a-f-]{36}$", r"^Active:\s+no$", r"^Persistent:\s+yes$",
                 r"^Autostart:\s+no$", r"^Bridge:\s+\S+$"):
        assert re.search(want, info, re.M), f"{want} not in:\n{info}"
    xml = virsh(daemon.uri, "net-dumpxml", network).stdout
    assert f"<name>{network}</name>" in xml and "<uuid>" in xml and "<forward mode='nat'" in xml, xml
    assert re.search(r"<ip address='10\.213\.\d+\.1' netmask='255\.255\.255\.0'>", xml), xml
    assert f"Network {network} has been undefined" in virsh(daemon.uri, "net-undefine", network).stdout
    assert network not in virsh(daemon.uri, "net-list", "--all").stdout
    err = virsh(daemon.uri, "net-info", network, check=False)
    assert err.returncode == 1 and f"Network not found: no network with matching name '{network}'" in err.stderr, err.stderr


def test_network_start_destroy(daemon, network):
    if daemon.kind == "libvirtd":
        pytest.skip("libvirtd (system mode) would create a bridge, dnsmasq and NAT rules on the host")
    assert f"Network {network} started" in virsh(daemon.uri, "net-start", network).stdout
    rows = virsh(daemon.uri, "net-list").stdout
    assert re.search(rf"^\s*{network}\s+active\s+no\s+yes\s*$", rows, re.M), rows
    assert re.search(r"^Active:\s+yes$", virsh(daemon.uri, "net-info", network).stdout, re.M)
    err = virsh(daemon.uri, "net-start", network, check=False)
    assert err.returncode == 1 and "network is already active" in err.stderr, err.stderr
    assert f"Network {network} destroyed" in virsh(daemon.uri, "net-destroy", network).stdout
    assert re.search(r"^Active:\s+no$", virsh(daemon.uri, "net-info", network).stdout, re.M)
    assert f"Network {network} has been undefined" in virsh(daemon.uri, "net-undefine", network).stdout


def test_attach_detach_disk_config(daemon, define, guest, tmp_path):
    define(guest)
    image = tmp_path / "extra.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "8M"], check=True)
    out = virsh(daemon.uri, "attach-disk", guest, str(image), "vdb", "--config", "--driver", "qemu", "--subdriver", "raw").stdout
    assert "Disk attached successfully" in out
    xml = virsh(daemon.uri, "dumpxml", "--inactive", guest).stdout
    assert re.search(rf"<source file='{re.escape(str(image))}'/>\s*<target dev='vdb' bus='virtio'/>", xml), xml
    blk = virsh(daemon.uri, "domblklist", guest, "--inactive").stdout
    assert re.search(rf"^\s*vdb\s+{re.escape(str(image))}\s*$", blk, re.M), blk
    err = virsh(daemon.uri, "attach-disk", guest, str(image), "vdb", "--config", check=False)
    assert err.returncode == 1 and "target vdb already exists" in err.stderr, err.stderr
    assert "Disk detached successfully" in virsh(daemon.uri, "detach-disk", guest, "vdb", "--config").stdout
    assert "vdb" not in virsh(daemon.uri, "domblklist", guest, "--inactive").stdout
    err = virsh(daemon.uri, "detach-disk", guest, "vdb", "--config", check=False)
    assert err.returncode == 1 and "No disk found whose source path or target is vdb" in err.stderr, err.stderr


# --- python3-libvirt --------------------------------------------------------------------------


def test_python_storage_pool_volumes_stream(daemon, tmp_path):
    libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing: run with /usr/bin/python3")
    name = f"itpypool{next(_ids)}"
    path = tmp_path / name
    conn = libvirt.open(daemon.uri)
    try:
        pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0)
        try:
            pool.build(0)
            pool.create(0)
            same = conn.storagePoolLookupByName(name)
            assert same.UUIDString() == pool.UUIDString() and same.isActive() == 1 and same.isPersistent() == 1
            assert f"<name>{name}</name>" in same.XMLDesc(0)
            data = os.urandom(2 * MiB + 17)
            vol = same.createXML(f"<volume><name>py.img</name><capacity unit='bytes'>{len(data)}</capacity>"
                                 "<target><format type='raw'/></target></volume>", 0)
            assert [v.name() for v in same.listAllVolumes(0)] == ["py.img"]
            assert vol.path() == f"{path}/py.img" and vol.info()[1] == len(data)

            stream = conn.newStream(0)
            vol.upload(stream, 0, len(data), 0)
            for off in range(0, len(data), 256 * 1024):
                chunk = data[off:off + 256 * 1024]
                assert stream.send(chunk) == len(chunk)
            stream.finish()
            with open(f"{path}/py.img", "rb") as f:
                assert f.read() == data

            stream = conn.newStream(0)
            vol.download(stream, 0, len(data), 0)
            got = bytearray()
            while True:
                chunk = stream.recv(256 * 1024)
                if not chunk:
                    break
                got += chunk
            stream.finish()
            assert bytes(got) == data
            vol.delete(0)
            assert same.listAllVolumes(0) == []
            with pytest.raises(libvirt.libvirtError) as e:
                same.storageVolLookupByName("py.img")
            assert e.value.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL
        finally:
            if pool.isActive():
                pool.destroy()
            pool.undefine()
        with pytest.raises(libvirt.libvirtError) as e:
            conn.storagePoolLookupByName(name)
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL
    finally:
        conn.close()


def test_python_network_lookup_xmldesc(daemon):
    libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing: run with /usr/bin/python3")
    n = next(_ids)
    name = f"itpynet{n}"
    conn = libvirt.open(daemon.uri)
    try:
        net = conn.networkDefineXML(network_xml(name, 100 + n % 100))
        try:
            found = conn.networkLookupByName(name)
            assert found.UUIDString() == net.UUIDString()
            assert str(uuid.UUID(found.UUIDString())) == found.UUIDString()
            assert found.isActive() == 0 and found.isPersistent() == 1
            assert name in [x.name() for x in conn.listAllNetworks(0)]
            xml = found.XMLDesc(0)
            assert f"<name>{name}</name>" in xml and "<forward mode='nat'" in xml, xml
            assert conn.networkLookupByUUIDString(net.UUIDString()).name() == name
        finally:
            net.undefine()
        with pytest.raises(libvirt.libvirtError) as e:
            conn.networkLookupByName(name)
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NETWORK
    finally:
        conn.close()
