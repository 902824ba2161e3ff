"""libvirt's observable semantics through virsh, as real libvirtd shows them: state reasons, ids,
list filters, transient/persistent domains, autostart, stats keys, device lists, error messages.
The expectations are libvirtd's output; corrald has to print the same."""
import os, re, subprocess, threading, time

from daemons import virsh, wait_ready, wait_until


def reason(uri, name):
    return virsh(uri, "domstate", "--reason", name).stdout.strip()


def fails(uri, *args):
    """stderr of a virsh command that must fail."""
    p = virsh(uri, *args, check=False)
    assert p.returncode == 1, f"virsh {' '.join(args)} should fail: {p.stdout}"
    return p.stderr


def test_states_ids_and_lists(daemon, define, guest):
    uri = daemon.uri
    define(guest)
    assert reason(uri, guest) == "shut off (unknown)"
    assert virsh(uri, "domid", guest).stdout.strip() == "-"
    uuid = virsh(uri, "domuuid", guest).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uuid)
    assert virsh(uri, "domname", uuid).stdout.strip() == guest
    assert guest in virsh(uri, "list", "--all", "--name").stdout.split()
    assert guest in virsh(uri, "list", "--state-shutoff", "--name").stdout.split()
    assert guest not in virsh(uri, "list", "--state-running", "--name").stdout.split()
    assert guest in virsh(uri, "list", "--all", "--persistent", "--name").stdout.split()

    virsh(uri, "start", guest)
    assert reason(uri, guest) == "running (booted)"
    domid = virsh(uri, "domid", guest).stdout.strip()
    assert domid.isdigit() and int(domid) > 0
    assert virsh(uri, "domname", domid).stdout.strip() == guest
    assert re.search(rf"^\s*{domid}\s+{guest}\s+running\s*$", virsh(uri, "list").stdout, re.M)
    assert uuid in virsh(uri, "list", "--uuid").stdout.split()
    assert guest in virsh(uri, "list", "--state-running", "--name").stdout.split()
    assert virsh(uri, "dumpxml", guest).stdout.startswith(f"<domain type='qemu' id='{domid}'>")
    assert virsh(uri, "dumpxml", "--inactive", guest).stdout.startswith("<domain type='qemu'>")
    assert "error: Domain is already active" in fails(uri, "start", guest)

    virsh(uri, "suspend", guest)
    assert reason(uri, guest) == "paused (user)"
    assert guest in virsh(uri, "list", "--state-paused", "--name").stdout.split()
    virsh(uri, "resume", guest)
    assert reason(uri, guest) == "running (unpaused)"

    virsh(uri, "destroy", guest)
    assert reason(uri, guest) == "shut off (destroyed)"
    assert virsh(uri, "domid", guest).stdout.strip() == "-"
    for verb, past in (("destroy", "destroy"), ("suspend", "suspend"), ("resume", "resume")):
        err = fails(uri, verb, guest)
        assert f"error: Failed to {past} domain '{guest}'" in err, err
        assert "error: Requested operation is not valid: domain is not running" in err, err


def test_unknown_domain(daemon):
    for args in (["dumpxml", "nosuch-dom"], ["start", "nosuch-dom"], ["undefine", "nosuch-dom"],
                 ["domstate", "nosuch-dom"], ["domuuid", "nosuch-dom"]):
        assert "error: failed to get domain 'nosuch-dom'" in fails(daemon.uri, *args)


def test_define_without_name(daemon, tmp_path):
    noname = tmp_path / "noname.xml"
    noname.write_text("<domain type='qemu'><memory>65536</memory><os><type>hvm</type></os></domain>")
    err = fails(daemon.uri, "define", str(noname))
    assert f"error: Failed to define domain from {noname}" in err and "error: missing name information" in err, err


def test_define_bad_type(daemon, tmp_path):
    badtype = tmp_path / "badtype.xml"
    badtype.write_text("<domain type='kvmx'><name>x</name><memory>65536</memory><os><type>hvm</type></os></domain>")
    err = fails(daemon.uri, "define", str(badtype))
    assert "error: unsupported configuration: invalid domain type kvmx" in err, err


def test_bad_definitions(daemon, define, guest, tmp_path):
    uri = daemon.uri
    broken = tmp_path / "broken.xml"
    broken.write_text("<domain type='qemu'><name>x")
    assert f"error: Failed to define domain from {broken}" in fails(uri, "define", str(broken))
    # Same name, another uuid.
    path = define(guest)
    uuid = virsh(uri, "domuuid", guest).stdout.strip()
    other = tmp_path / "other.xml"
    other.write_text(path.read_text().replace("<name>", "<uuid>11111111-2222-3333-4444-555555555555</uuid><name>", 1))
    err = fails(uri, "define", str(other))
    assert f"operation failed: domain '{guest}' already exists with uuid {uuid}" in err, err
    # Redefining with the same uuid updates the definition.
    same = tmp_path / "same.xml"
    same.write_text(path.read_text().replace("<name>", f"<uuid>{uuid}</uuid><name>", 1)
                    .replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>"))
    assert f"Domain '{guest}' defined" in virsh(uri, "define", str(same)).stdout
    assert re.search(r"^CPU\(s\):\s+2$", virsh(uri, "dominfo", guest).stdout, re.M)


def test_transient_domains(daemon, define, guest, tmp_path):
    uri = daemon.uri
    # Undefining a running domain leaves it running, transient; destroying it then removes it.
    define(guest)
    virsh(uri, "start", guest)
    assert f"Domain '{guest}' has been undefined" in virsh(uri, "undefine", guest).stdout
    info = virsh(uri, "dominfo", guest).stdout
    assert re.search(r"^Persistent:\s+no$", info, re.M) and re.search(r"^State:\s+running$", info, re.M), info
    assert guest in virsh(uri, "list", "--transient", "--name").stdout.split()
    virsh(uri, "destroy", guest)
    assert guest not in virsh(uri, "list", "--all", "--name").stdout.split()

    # `virsh create` starts a domain nobody defined.
    path = tmp_path / f"{guest}.xml"
    path.write_text(daemon.domain_xml(guest, disk=False))
    assert f"Domain '{guest}' created from {path}" in virsh(uri, "create", str(path)).stdout
    assert re.search(r"^Persistent:\s+no$", virsh(uri, "dominfo", guest).stdout, re.M)
    assert reason(uri, guest) == "running (booted)"
    assert "Requested operation is not valid: cannot set autostart for transient domain" in fails(uri, "autostart", guest)
    virsh(uri, "destroy", guest)
    assert "error: failed to get domain" in fails(uri, "domstate", guest)


def test_autostart_flag(daemon, define, guest):
    uri = daemon.uri
    define(guest)
    assert re.search(r"^Autostart:\s+disable$", virsh(uri, "dominfo", guest).stdout, re.M)
    assert f"Domain '{guest}' marked as autostarted" in virsh(uri, "autostart", guest).stdout
    assert re.search(r"^Autostart:\s+enable$", virsh(uri, "dominfo", guest).stdout, re.M)
    assert guest in virsh(uri, "list", "--all", "--autostart", "--name").stdout.split()
    assert guest not in virsh(uri, "list", "--all", "--no-autostart", "--name").stdout.split()
    assert f"Domain '{guest}' unmarked as autostarted" in virsh(uri, "autostart", "--disable", guest).stdout
    assert guest in virsh(uri, "list", "--all", "--no-autostart", "--name").stdout.split()


def test_running_guest_details(daemon, define, guest):
    uri = daemon.uri
    define(guest)
    virsh(uri, "start", guest)
    overlay = os.path.join(daemon.workdir, "disks", f"{guest}.qcow2")
    blk = virsh(uri, "domblklist", guest).stdout
    assert re.search(rf"^\s*vda\s+{re.escape(overlay)}\s*$", blk, re.M), blk
    ifl = virsh(uri, "domiflist", guest).stdout
    assert re.search(r"^\s*-\s+user\s+-\s+virtio\s+52:54:00(:[0-9a-f]{2}){3}\s*$", ifl, re.M), ifl
    wait_ready(daemon, guest)  # the guest has mounted its disk: reads happened
    stats = dict(line.strip().split("=", 1) for line in virsh(uri, "domstats", guest).stdout.splitlines()
                 if "=" in line)
    # What monitoring tools (virt-top, exporters) read, as libvirtd reports it for this guest.
    for key in ("state.state", "state.reason", "cpu.time", "cpu.user", "cpu.system", "balloon.current",
                "balloon.maximum", "vcpu.current", "vcpu.maximum", "vcpu.0.state", "vcpu.0.time", "net.count",
                "block.count", "block.0.name", "block.0.path", "block.0.rd.reqs", "block.0.rd.bytes",
                "block.0.wr.reqs", "block.0.wr.bytes"):
        assert key in stats, f"domstats lacks {key}: {sorted(stats)}"
    assert stats["state.state"] == "1" and stats["state.reason"] == "1"
    assert stats["block.0.path"] == overlay
    assert int(stats["block.0.rd.bytes"]) > 0 and int(stats["cpu.time"]) > 0
    only_state = virsh(uri, "domstats", "--state", guest).stdout
    assert "state.state=1" in only_state and "block.count" not in only_state
    listed = virsh(uri, "domstats", "--state", "--list-active").stdout
    assert f"Domain: '{guest}'" in listed


def test_domstats_block_sizes(daemon, define, guest):
    define(guest)
    virsh(daemon.uri, "start", guest)
    stats = virsh(daemon.uri, "domstats", "--block", guest).stdout
    assert f"block.0.capacity={16 * 1024 * 1024}" in stats, stats
    for key in ("block.0.allocation=", "block.0.physical="):
        assert key in stats, stats


def test_define_undefine_events(daemon, define, guest):
    uri = daemon.uri
    ev = subprocess.Popen(["stdbuf", "-oL", "virsh", "-c", uri, "event", "--loop", "--event", "lifecycle"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, LC_ALL="C"))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in ev.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)
        define(guest)
        virsh(uri, "undefine", guest)
        want = [f"event 'lifecycle' for domain '{guest}': Defined Added",
                f"event 'lifecycle' for domain '{guest}': Undefined Removed"]
        wait_until(lambda: all(w in lines for w in want) or not reader.is_alive(), 20, "the events", interval=0.1)
        assert [l for l in lines if guest in l] == want, lines
    finally:
        ev.terminate()
        ev.wait(10)
