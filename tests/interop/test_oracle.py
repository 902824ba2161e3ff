"""The daemon under test side by side with a real libvirtd: the same domain XML in, the same XML out."""
import difflib, re

from daemons import virsh


def normalized(xml):
    """Drops what differs by nature between two definitions of one guest: uuid, MAC address."""
    xml = re.sub(r"<uuid>[0-9a-f-]+</uuid>", "<uuid/>", xml)
    return re.sub(r"<mac address='[0-9a-f:]+'/>", "<mac/>", xml)


def test_inactive_xml_matches_libvirtd(daemon, oracle, guest, tmp_path):
    """libvirtd fills in defaults on define (machine type expanded, boot device, CPU model, controllers,
    input devices, PCI addresses...); corrald has to fill in the same ones."""
    xml = daemon.domain_xml(guest)
    path = tmp_path / "dom.xml"
    path.write_text(xml)
    out = {}
    for d in (oracle, daemon):
        virsh(d.uri, "define", str(path))
        out[d.kind] = normalized(virsh(d.uri, "dumpxml", "--inactive", guest).stdout)
        virsh(d.uri, "undefine", guest)
    diff = "".join(difflib.unified_diff(out["libvirtd"].splitlines(True), out[daemon.kind].splitlines(True),
                                        "libvirtd", daemon.kind))
    assert not diff, f"dumpxml --inactive differs from libvirtd's:\n{diff}"


def test_live_xml_essentials(daemon, define, guest):
    """What virt-manager and `virsh console`/`domifaddr`-style tools read from the live XML."""
    define(guest)
    virsh(daemon.uri, "start", guest)
    domid = virsh(daemon.uri, "domid", guest).stdout.strip()
    xml = virsh(daemon.uri, "dumpxml", guest).stdout
    assert xml.startswith(f"<domain type='qemu' id='{domid}'>"), xml[:200]
    serial = re.search(r"<serial type='pty'>(.*?)</serial>", xml, re.S)
    assert serial and re.search(r"<source path='/dev/pts/\d+'/>", serial.group(1)), xml
    assert re.search(r"<console type='pty' tty='/dev/pts/\d+'>", xml), xml
    for alias in ("virtio-disk0", "net0", "serial0", "balloon0"):
        assert f"<alias name='{alias}'/>" in xml, f"no device alias {alias}:\n{xml}"
