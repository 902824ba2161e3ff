#!/usr/bin/python3
"""corrald versus a real libvirtd, in the same run, driven by the same virsh client.

Measures (medians; ratio = corrald / libvirtd, below 1 means corrald is faster or smaller):
  start        `virsh start` of a defined tiny guest, until virsh returns
  destroy      `virsh destroy` of that running guest, until virsh returns
  boot10       10 guests started at once (10 virsh processes), until each prints its ready line
               on the serial console (median and slowest guest)
  define1000   defining 1000 domains in one virsh session (commands read from stdin)
  list1000     `virsh list --all` with 1000 defined domains
  domstate1000 1000 `domstate` commands in one virsh session (commands read from stdin)
  rss          the daemon's VmRSS when idle, and with 1000 defined domains

libvirtd is scripts/libvirtd-anchor.sh; corrald is .build/debug/corrald (or $CORRALD) with a temporary
--root; a daemon that is not available is reported as such and left out. Guests are the tiny guest
(scripts/tiny-guest.sh, TCG). Usage: bench/daemon_vs_libvirtd.py [--runs N] [--guests N]
[--domains N] [--only libvirtd|corrald] [--json FILE]. Run with Debian's /usr/bin/python3.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "interop"))
import daemons  # noqa: E402
from daemons import virsh  # noqa: E402


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def virsh_session(uri, commands, timeout=600):
    """Runs `commands` in one virsh process (virsh reads them from stdin); fails on any error."""
    p = subprocess.run(["virsh", "-c", uri], input="\n".join(commands) + "\n", capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, LC_ALL="C"))
    if p.returncode != 0 or "error:" in p.stderr:
        raise RuntimeError(f"virsh session failed ({p.returncode}): {p.stderr.strip()[:500]}")
    return p.stdout


def bench_start_destroy(d, runs, tmp):
    name = "bench-start"
    path = os.path.join(tmp, f"{name}.xml")
    with open(path, "w") as f:
        f.write(d.domain_xml(name))
    virsh(d.uri, "define", path)
    starts, destroys = [], []
    for _ in range(runs):
        starts.append(timed(lambda: virsh(d.uri, "start", name)))
        # Let QEMU get going so destroy measures stopping a running guest, not a half-started one.
        time.sleep(0.5)
        destroys.append(timed(lambda: virsh(d.uri, "destroy", name)))
    virsh(d.uri, "undefine", name)
    return {"start": starts, "destroy": destroys}


def bench_boot_parallel(d, n, tmp):
    names = [f"bench-par{i}" for i in range(n)]
    for name in names:
        path = os.path.join(tmp, f"{name}.xml")
        with open(path, "w") as f:
            f.write(d.domain_xml(name))
        virsh(d.uri, "define", path)
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(n) as ex:
            list(ex.map(lambda nm: virsh(d.uri, "start", nm), names))
            times = list(ex.map(lambda nm: daemons.wait_ready(d, nm, timeout=600) - t0, names))
    finally:
        for name in names:
            virsh(d.uri, "destroy", name, check=False)
    return {"boot10": times}


def bench_many(d, count, runs, tmp, res):
    xml = d.domain_xml("bench-k-template", disk=False)
    names = [f"bench-k{i:04d}" for i in range(count)]
    files = []
    for name in names:
        path = os.path.join(tmp, f"{name}.xml")
        with open(path, "w") as f:
            f.write(xml.replace("<name>bench-k-template</name>", f"<name>{name}</name>"))
        files.append(path)
    # Results are recorded step by step, so a slow or failing step keeps the earlier ones. No
    # undefine afterwards: the daemon's whole state is thrown away with its temporary root.
    res["define1000"] = [timed(lambda: virsh_session(d.uri, [f"define {f}" for f in files]))]
    out = virsh(d.uri, "list", "--all").stdout
    assert sum(1 for n in names if n in out) == count, "not all domains are listed"
    res["list1000"] = [timed(lambda: virsh(d.uri, "list", "--all")) for _ in range(runs)]
    res["rss_1000_kib"] = daemons.vm_rss_kib(d.pid())
    res["domstate1000"] = []
    for _ in range(runs):
        t0 = time.monotonic()
        out = virsh_session(d.uri, [f"domstate {n}" for n in names])
        res["domstate1000"].append(time.monotonic() - t0)
        assert out.count("shut off") == count, "domstate answers are missing"


def run_daemon(kind, args):
    if kind == "corrald" and (why := daemons.corrald_missing_reason()):
        return {"skipped": why}
    work = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    d = daemons.make_daemon(kind, work)
    res = {}
    try:
        d.start()
        time.sleep(1)
        res["rss_idle_kib"] = daemons.vm_rss_kib(d.pid())
        tmp = os.path.join(work, "xml")
        os.makedirs(tmp)
        print(f"{kind}: start/destroy x{args.runs}", file=sys.stderr)
        res.update(bench_start_destroy(d, args.runs, tmp))
        print(f"{kind}: {args.guests} guests at once", file=sys.stderr)
        res.update(bench_boot_parallel(d, args.guests, tmp))
        print(f"{kind}: {args.domains} defined domains", file=sys.stderr)
        bench_many(d, args.domains, args.runs, tmp, res)
    except Exception as e:  # a daemon that fails a step is reported, the other one still measured
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    return res


ROWS = [("start", "virsh start (s)", "s"), ("destroy", "virsh destroy (s)", "s"),
        ("boot10", "N guests at once: ready line, median (s)", "s"),
        ("boot10_max", "N guests at once: ready line, slowest (s)", "s"),
        ("define1000", "define 1000 domains, one session (s)", "s"),
        ("list1000", "list --all, 1000 domains (s)", "s"), ("domstate1000", "1000 domstate, one session (s)", "s"),
        ("rss_idle_kib", "daemon RSS idle (MiB)", "kib"), ("rss_1000_kib", "daemon RSS, 1000 domains (MiB)", "kib")]


def value(res, key):
    if key == "boot10_max":
        return max(res["boot10"]) if "boot10" in res else None
    v = res.get(key)
    if v is None:
        return None
    return statistics.median(v) if isinstance(v, list) else v


def ratio_table(results, rows, value, relabel):
    """Markdown table of both daemons' medians and corrald/libvirtd; shared with storage_vs_libvirtd.py."""
    def fmt(v, unit):
        if v is None:
            return "—"
        return {"kib": f"{v / 1024:.1f}", "mbs": f"{v:.0f}"}.get(unit, f"{v:.3f}")
    lines = ["| measure | libvirtd | corrald | corrald/libvirtd |", "|---|---:|---:|---:|"]
    for key, label, unit in rows:
        lv, cv = value(results.get("libvirtd", {}), key), value(results.get("corrald", {}), key)
        ratio = f"{cv / lv:.2f}" if lv and cv is not None else "—"
        lines.append(f"| {relabel(label)} | {fmt(lv, unit)} | {fmt(cv, unit)} | {ratio} |")
    for kind, res in results.items():
        for k in ("skipped", "error"):
            if k in res:
                lines.append(f"\n{kind} {k}: {res[k]}")
    return "\n".join(lines)


def report(results, guests, domains):
    return ratio_table(results, ROWS, value,
                       lambda label: label.replace("N guests", f"{guests} guests").replace("1000", str(domains)))


def run_both(args, run_daemon, report):
    """Runs the benchmark against --only or both daemons, writes --json, prints the report; exit status.
    Shared with storage_vs_libvirtd.py."""
    kinds = [args.only] if args.only else ["libvirtd", "corrald"]
    results = {k: run_daemon(k, args) for k in kinds}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results))
    return 1 if any("error" in r for r in results.values()) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--guests", type=int, default=10)
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--only", choices=["libvirtd", "corrald"])
    ap.add_argument("--json", help="also write the raw timings here")
    args = ap.parse_args()
    daemons.become_subreaper()
    daemons.ensure_tiny_guest()
    return run_both(args, run_daemon, lambda results: report(results, args.guests, args.domains))


if __name__ == "__main__":
    sys.exit(main())
