#!/usr/bin/python3
"""corrald's storage pools and volumes versus a real libvirtd, in the same run, driven by the same
virsh client. No guest is booted.

Measures (medians of --runs; ratio = corrald / libvirtd, below 1 means corrald is faster or smaller):
  pool_setup   pool-define-as (dir, target in a temporary directory) + pool-build + pool-start,
               three virsh processes, summed
  raw1g        vol-create-as NAME 1G --format raw
  qcow2_1g     vol-create-as NAME 1G --format qcow2
  qcow2_back   vol-create-as NAME 1G --format qcow2 --backing-vol BASE --backing-vol-format qcow2
  vol_delete   vol-delete of one 1G qcow2 volume
  list200      vol-list --details with 200 volumes in the pool
  upload       vol-upload of a 64 MiB file of random bytes into a raw volume (MB/s)
  download     vol-download of that volume back (MB/s); both files are compared with cmp
  rss          the daemon's VmRSS idle, and with the 200 volumes in the pool

Daemons are started as bench/daemon_vs_libvirtd.py does (tests/interop/daemons.py): libvirtd through
scripts/libvirtd-anchor.sh, corrald as .build/debug/corrald (or $CORRALD) with a temporary --root.
Usage: bench/storage_vs_libvirtd.py [--runs N] [--volumes N] [--mib N] [--only libvirtd|corrald]
[--json FILE]. Run with Debian's /usr/bin/python3.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_vs_libvirtd import ratio_table, run_both, timed, virsh_session  # noqa: E402
import daemons  # noqa: E402  (daemon_vs_libvirtd put tests/interop on the path)
from daemons import virsh  # noqa: E402


def bench_storage(d, args, work, res):
    """Records into `res` step by step, so a failing step keeps the earlier ones."""
    pools = os.path.join(work, "pools")
    os.makedirs(pools)
    res["pool_setup"] = []
    for i in range(args.runs):
        name, target = f"bp{i}", os.path.join(pools, f"bp{i}")
        t = timed(lambda: virsh(d.uri, "pool-define-as", name, "dir", "--target", target))
        t += timed(lambda: virsh(d.uri, "pool-build", name))
        t += timed(lambda: virsh(d.uri, "pool-start", name))
        res["pool_setup"].append(t)
    pool, target = "bp0", os.path.join(pools, "bp0")

    for key in ("raw1g", "qcow2_1g", "qcow2_back", "vol_delete"):
        res[key] = []
    virsh(d.uri, "vol-create-as", pool, "base.qcow2", "1G", "--format", "qcow2")
    for i in range(args.runs):
        res["raw1g"].append(timed(lambda: virsh(d.uri, "vol-create-as", pool, f"r{i}.img", "1G", "--format", "raw")))
        res["qcow2_1g"].append(timed(lambda: virsh(d.uri, "vol-create-as", pool, f"q{i}.qcow2", "1G", "--format", "qcow2")))
        res["qcow2_back"].append(timed(lambda: virsh(d.uri, "vol-create-as", pool, f"b{i}.qcow2", "1G", "--format", "qcow2",
                                                     "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2")))
    out = subprocess.run(["qemu-img", "info", os.path.join(target, "b0.qcow2")], capture_output=True, text=True).stdout
    assert "backing file: " in out and "base.qcow2" in out, f"b0.qcow2 has no backing file: {out}"
    for i in range(args.runs):
        res["vol_delete"].append(timed(lambda: virsh(d.uri, "vol-delete", "--pool", pool, f"q{i}.qcow2")))
    for i in range(args.runs):  # back to the base volume alone
        virsh(d.uri, "vol-delete", "--pool", pool, f"r{i}.img")
        virsh(d.uri, "vol-delete", "--pool", pool, f"b{i}.qcow2")

    # 200 volumes (the base is one of them), created from one virsh session.
    n = args.volumes
    virsh_session(d.uri, [f"vol-create-as {pool} v{i:04d}.qcow2 1G --format qcow2" for i in range(n - 1)])
    out = virsh(d.uri, "vol-list", "--details", pool).stdout
    rows = [l for l in out.splitlines() if l.strip().startswith(("v0", "base"))]
    assert len(rows) == n, f"vol-list shows {len(rows)} volumes, expected {n}"
    res["list200"] = [timed(lambda: virsh(d.uri, "vol-list", "--details", pool)) for _ in range(args.runs)]
    res["rss_200_kib"] = daemons.vm_rss_kib(d.pid())

    # 64 MiB of random bytes up and down.
    size = args.mib * 1024 * 1024
    src, back = os.path.join(work, "up.bin"), os.path.join(work, "down.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    virsh(d.uri, "vol-create-as", pool, "blob.img", str(size), "--format", "raw")
    res["upload_mbs"], res["download_mbs"] = [], []
    for _ in range(args.runs):
        t = timed(lambda: virsh(d.uri, "vol-upload", "--pool", pool, "blob.img", src, timeout=300))
        res["upload_mbs"].append(size / 1e6 / t)
        if os.path.exists(back):
            os.unlink(back)
        t = timed(lambda: virsh(d.uri, "vol-download", "--pool", pool, "blob.img", back, timeout=300))
        res["download_mbs"].append(size / 1e6 / t)
        c = subprocess.run(["cmp", src, back], capture_output=True, text=True)
        assert c.returncode == 0, f"downloaded bytes differ from uploaded: {c.stdout.strip()}"
        # The volume itself, read without the daemon.
        c = subprocess.run(["cmp", src, os.path.join(target, "blob.img")], capture_output=True, text=True)
        assert c.returncode == 0, f"volume file differs from uploaded bytes: {c.stdout.strip()}"


def run_daemon(kind, args):
    if kind == "corrald" and (why := daemons.corrald_missing_reason()):
        return {"skipped": why}
    work = tempfile.mkdtemp(prefix=f"bench-storage-{kind}-")
    d = daemons.make_daemon(kind, work)
    res = {}
    try:
        d.start()
        time.sleep(1)
        res["rss_idle_kib"] = daemons.vm_rss_kib(d.pid())
        print(f"{kind}: storage x{args.runs}", file=sys.stderr)
        bench_storage(d, args, work, res)
    except Exception as e:  # a daemon that fails a step is reported, the other one still measured
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    return res


ROWS = [("pool_setup", "pool-define-as + build + start (s)", "s"),
        ("raw1g", "vol-create-as raw 1G (s)", "s"), ("qcow2_1g", "vol-create-as qcow2 1G (s)", "s"),
        ("qcow2_back", "vol-create-as qcow2 1G --backing-vol (s)", "s"), ("vol_delete", "vol-delete (s)", "s"),
        ("list200", "vol-list --details, 200 volumes (s)", "s"),
        ("upload_mbs", "vol-upload 64 MiB (MB/s)", "mbs"), ("download_mbs", "vol-download 64 MiB (MB/s)", "mbs"),
        ("rss_idle_kib", "daemon RSS idle (MiB)", "kib"), ("rss_200_kib", "daemon RSS, 200 volumes (MiB)", "kib")]


def value(res, key):
    v = res.get(key)
    if v is None:
        return None
    return statistics.median(v) if isinstance(v, list) else v


def report(results, volumes, mib):
    return ratio_table(results, ROWS, value,
                       lambda label: label.replace("200", str(volumes)).replace("64 MiB", f"{mib} MiB"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--volumes", type=int, default=200)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--only", choices=["libvirtd", "corrald"])
    ap.add_argument("--json", help="also write the raw timings here")
    args = ap.parse_args()
    daemons.become_subreaper()
    return run_both(args, run_daemon, lambda results: report(results, args.volumes, args.mib))


if __name__ == "__main__":
    sys.exit(main())
