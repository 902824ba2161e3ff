#!/usr/bin/python3
"""`corral guest` versus libguestfs's virt-* tools and plain C readers, in the same run.

Images (built once, cached in .build/bench-images; delete the directory to rebuild):
  ext4.raw     4 GiB sparse disk, MBR, one ext4 partition holding a generated Linux-like tree of
               50,000 files (os-release, fstab, hostname, dpkg status, so inspection finds an OS;
               directories from 1 to 10,000 entries, symlinks, hard links, sparse files)
  ext4.qcow2   the same disk as qcow2
  fat.img      512 MiB whole-disk FAT32 (4 KiB clusters) with 3,000 files (mtools is slow beyond that)
  iso.iso      ISO 9660 with Rock Ridge and Joliet, the same 3,000 files

Operations, per image where they apply: ls (`ls -lR /`), cat (/etc/os-release), df (`df -h`),
filesystems (`filesystems --all --long`), inspect. Each is timed from exec to exit for
  corral       `corral guest ...` (release build: .build/release/corral or $CORRAL)
  libguestfs   virt-ls / virt-cat / virt-df / virt-filesystems / virt-inspector with
               LIBGUESTFS_BACKEND=direct and LIBGUESTFS_BACKEND_SETTINGS=force_tcg (an appliance
               VM boots each time: ~30 s here, so fewer runs)
  floor        a C reader doing the same work without a VM: 7zz l, debugfs, mdir, minfo, xorriso,
               blkid (the fastest available is the "floor")
A missing tool or corral subcommand is reported as n/a; a command that fails is reported as
"fail" and left out of the medians. `lines` is the output's line count, a cheap check that two
tools listed the same tree.

Usage: bench/guestfs_vs_libguestfs.py [--runs 5] [--lg-runs 3] [--only ls,cat,...]
       [--images ext4.raw,fat.img,...] [--no-libguestfs] [--json FILE] [--write-readme]
Run with Debian's /usr/bin/python3. The lead builds corral once: swift build -c release --product corral
"""
import argparse, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, ".build", "bench-images")
README = os.path.join(ROOT, "bench", "README.md")
# Bump when the generated images change, so a cached set is rebuilt.
IMAGE_VERSION = "1"
EXT4_FILES = 50_000
SMALL_FILES = 3_000
DISK_SIZE = 4 << 30
PART_OFFSET = 1 << 20
FS_UUID = "5a1e0c0d-0b5e-4e4c-9a11-c0441a1be4c4"
LG_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
OPS = ["ls", "cat", "df", "filesystems", "inspect"]

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# MARK: images

def generate_tree(top, nfiles, seed, posix=True, max_per_dir=None):
    """A deterministic Linux-like tree with exactly `nfiles` regular files; returns its directories.
    `posix=False` leaves out symlinks and hard links (for FAT); `max_per_dir` splits big
    directories (mcopy's time grows with the square of a directory's size)."""
    rng = random.Random(seed)
    dirs = set()
    count = 0
    chunk = (b"corral bench file contents, line after line of plain text.\n" * 80)

    def mkdir(rel):
        path = os.path.join(top, rel)
        os.makedirs(path, exist_ok=True)
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))

    def write(rel, data=None, size=None):
        nonlocal count
        if count >= nfiles:
            return
        if size is None:
            # Mostly small files, a long tail up to 256 KiB.
            size = min(int(rng.lognormvariate(7.0, 1.6)), 256 << 10)
        with open(os.path.join(top, rel), "wb") as f:
            if data is not None:
                f.write(data)
            else:
                while size > 0:
                    n = min(size, len(chunk))
                    f.write(chunk[:n])
                    size -= n
        count += 1

    for d in ["etc", "usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "var/lib/dpkg/info", "var/log",
              "var/cache/apt", "home/user", "root", "tmp", "usr/share/doc", "usr/share/man", "usr/share/locale"]:
        mkdir(d)
    dirs.add("/")
    write("etc/os-release", OS_RELEASE.encode())
    write("etc/fstab", f"# /etc/fstab\nUUID={FS_UUID} / ext4 errors=remount-ro 0 1\n".encode())
    write("etc/hostname", b"benchhost\n")
    write("etc/hosts", b"127.0.0.1\tlocalhost\n127.0.1.1\tbenchhost\n")
    write("etc/debian_version", b"12.8\n")
    write("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\n")
    write("etc/group", b"root:x:0:\nuser:x:1000:\n")
    status = "".join(f"Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\n"
                     f"Version: 1.{i}-1\nDescription: generated package {i}\n\n" for i in range(60))
    write("var/lib/dpkg/status", status.encode())
    if posix:
        for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib")]:
            os.symlink(target, os.path.join(top, link))
        os.link(os.path.join(top, "etc/hostname"), os.path.join(top, "etc/hostname.hardlink"))
        with open(os.path.join(top, "var/log/sparse.log"), "wb") as f:
            f.truncate(64 << 20)
            f.write(b"end of a sparse file\n")
        count += 1
    else:
        mkdir("bin")
        write("bin/sh", size=4096)

    # Directory shapes: (directory pattern, directories, files in each), in this order until full.
    shapes = [
        ("etc/conf.d{}", 40, 8),               # many small directories
        ("usr/bin", 1, 1500),                  # a big flat directory
        ("usr/lib/x86_64-linux-gnu", 1, 3000),
        ("usr/share/doc/package-{}", 700, 4),
        ("usr/share/man/man{}", 8, 600),
        ("usr/share/locale/l{}/LC_MESSAGES", 120, 15),
        ("usr/lib/python3/dist-packages/mod{}/sub/inner/deep", 150, 12),  # depth
        ("var/lib/dpkg/info", 1, 5000),
        ("var/cache/big", 1, 10000),           # htree directory
        ("home/user/project/src/dir{}", 300, 20),
    ]
    for pattern, ndirs, nper in shapes:
        if max_per_dir and nper > max_per_dir:
            ndirs, nper = ndirs * -(-nper // max_per_dir), max_per_dir
            pattern = pattern if "{}" in pattern else pattern + "/part{}"
        for i in range(ndirs):
            if count >= nfiles:
                break
            rel = pattern.format(i)
            mkdir(rel)
            for j in range(nper):
                write(f"{rel}/file-{j:05d}.dat")
    # The rest spread over medium directories.
    i = 0
    while count < nfiles:
        rel = f"usr/share/data/set{i // 50}"
        if i % 50 == 0:
            mkdir(rel)
        write(f"{rel}/item-{i:06d}.txt")
        i += 1
    if posix:
        for j in range(0, 200):
            os.symlink(f"file-{j:05d}.dat", os.path.join(top, "usr/lib/x86_64-linux-gnu", f"lib{j}.so"))
    return sorted(dirs)


def run_quiet(argv, **kw):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)


def build_images():
    """Builds each missing image under a temporary name, so an interrupted build leaves nothing
    that looks complete. The stamp records IMAGE_VERSION; a different one rebuilds everything."""
    os.makedirs(IMAGES, exist_ok=True)
    stamp = os.path.join(IMAGES, "stamp")
    if not os.path.exists(stamp) or open(stamp).read().strip() != IMAGE_VERSION:
        for name in os.listdir(IMAGES):
            os.unlink(os.path.join(IMAGES, name))
        with open(stamp, "w") as f:
            f.write(IMAGE_VERSION + "\n")
    path = lambda name: os.path.join(IMAGES, name)
    tmp = tempfile.mkdtemp(prefix="bench-tree-", dir=os.path.dirname(IMAGES))
    try:
        t0 = time.monotonic()
        if not (os.path.exists(path("ext4.raw")) and os.path.exists(path("ext4.dirs"))):
            log(f"bench: generating a {EXT4_FILES}-file tree")
            big = os.path.join(tmp, "big")
            dirs = generate_tree(big, EXT4_FILES, "ext4")
            log("bench: mkfs.ext4 -d (4 GiB sparse disk, partition at 1 MiB)")
            part = path("ext4.raw.part")
            with open(part, "wb") as f:
                f.truncate(DISK_SIZE)
            run_quiet(["sfdisk", "-q", part], input=b"label: dos\nlabel-id: 0x6be4c4c4\nstart=2048, type=83\n")
            fs_kib = (DISK_SIZE - PART_OFFSET) // 1024
            run_quiet(["mkfs.ext4", "-q", "-F", "-L", "benchroot", "-U", FS_UUID,
                       "-E", f"offset={PART_OFFSET},root_owner=0:0", "-d", big, part, f"{fs_kib}k"])
            with open(path("ext4.dirs"), "w") as f:
                f.write("\n".join(dirs) + "\n")
            os.rename(part, path("ext4.raw"))
            shutil.rmtree(big)
        if not os.path.exists(path("ext4.qcow2")):
            log("bench: qemu-img convert to qcow2")
            run_quiet(["qemu-img", "convert", "-O", "qcow2", path("ext4.raw"), path("ext4.qcow2.part")])
            os.rename(path("ext4.qcow2.part"), path("ext4.qcow2"))

        small = os.path.join(tmp, "small")
        if not (os.path.exists(path("fat.img")) and os.path.exists(path("iso.iso"))):
            generate_tree(small, SMALL_FILES, "small", posix=False, max_per_dir=100)
        if not os.path.exists(path("fat.img")):
            log(f"bench: FAT32 with {SMALL_FILES} files (mcopy)")
            part = path("fat.img.part")
            if os.path.exists(part):
                os.unlink(part)
            # 4 KiB clusters keep the FAT small (mtools scans it for every allocation); FAT32 needs
            # at least 65525 clusters, hence 512 MiB.
            run_quiet(["mkfs.vfat", "-C", "-F", "32", "-s", "8", "-n", "BENCHFAT", part, str(512 * 1024)])
            run_quiet(["mcopy", "-s", "-Q", "-i", part] + [os.path.join(small, n) for n in sorted(os.listdir(small))]
                      + ["::/"], env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
            os.rename(part, path("fat.img"))
        if not os.path.exists(path("iso.iso")):
            log("bench: ISO 9660 (xorriso, Rock Ridge + Joliet)")
            run_quiet(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "BENCHISO", "-o",
                       path("iso.iso.part"), small], stderr=subprocess.DEVNULL)
            os.rename(path("iso.iso.part"), path("iso.iso"))
        log(f"bench: images ready ({time.monotonic() - t0:.0f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# MARK: commands

def corral_binary():
    return os.environ.get("CORRAL") or os.path.join(ROOT, ".build", "release", "corral")


def corral_has(sub, cache={}):
    """Whether this corral build has `corral guest SUB` (other branches add them): the usage text
    of `corral guest --help` lists one subcommand per indented line."""
    if "subs" not in cache:
        exe = corral_binary()
        subs = set()
        if os.access(exe, os.X_OK):
            p = subprocess.run([exe, "guest", "--help"], capture_output=True, text=True)
            subs = {line.split()[0] for line in p.stdout.splitlines() if line.startswith("    ") and line.strip()}
        cache["subs"] = subs
    return sub in cache["subs"]


def have(tool):
    return shutil.which(tool) is not None


def measurements(images):
    """(image, op, corral argv, libguestfs argv, [(floor label, argv)]) for the chosen images."""
    out = []
    c = corral_binary()
    ext4_dirs = os.path.join(IMAGES, "ext4.dirs")
    for name in images:
        img = os.path.join(IMAGES, name)
        fmt = "qcow2" if name.endswith(".qcow2") else "raw"
        add = [f"--format={fmt}", "-a", img]  # libguestfs wants --format before -a
        is_ext4 = name.startswith("ext4")
        # Without an OS to inspect, virt-ls/virt-cat mount the whole-disk filesystem explicitly.
        mount = [] if is_ext4 else ["-m", "/dev/sda"]
        e2 = f"{img}?offset={PART_OFFSET}"  # e2fsprogs' unix_io option: the partition inside the disk
        floors = {"ls": [], "cat": [], "df": [], "filesystems": [], "inspect": []}
        floors["ls"].append(("7zz l", ["7zz", "l", img]))
        if name == "ext4.raw":
            floors["ls"].append(("debugfs ls -l (every dir)", ["debugfs", "-f", ext4_dirs + ".debugfs", e2]))
            floors["cat"].append(("debugfs cat", ["debugfs", "-R", "cat /etc/os-release", e2]))
            floors["df"].append(("dumpe2fs -h", ["dumpe2fs", "-h", e2]))
            floors["filesystems"].append(("blkid -p", ["blkid", "-p", "-O", str(PART_OFFSET), img]))
        elif name == "fat.img":
            floors["ls"].append(("mdir -/ -a", ["mdir", "-i", img, "-/", "-a", "::/"]))
            floors["df"].append(("minfo", ["minfo", "-i", img, "::"]))
            floors["filesystems"].append(("blkid -p", ["blkid", "-p", img]))
        elif name == "iso.iso":
            floors["ls"].append(("xorriso -find", ["xorriso", "-indev", img, "-find", "/", "-exec", "lsdl"]))
            floors["filesystems"].append(("blkid -p", ["blkid", "-p", img]))
        ops = {
            "ls": (["guest", "ls"] + add + mount + ["-lR", "/"], ["virt-ls"] + add + mount + ["-lR", "/"]),
            "cat": (["guest", "cat"] + add + ["/etc/os-release"], ["virt-cat"] + add + ["/etc/os-release"]),
            "df": (["guest", "df"] + add + ["-h"], ["virt-df"] + add + ["-h"]),
            "filesystems": (["guest", "filesystems"] + add + ["--all", "--long"],
                            ["virt-filesystems"] + add + ["--all", "--long"]),
            "inspect": (["guest", "inspect"] + add, ["virt-inspector"] + add),
        }
        for op, (cargs, lgargs) in ops.items():
            if op in ("cat", "inspect") and not is_ext4:
                continue  # no OS on these images
            out.append((name, op, [c] + cargs, lgargs, floors[op]))
    return out


def time_command(argv, env=None, timeout=1800):
    """(seconds, output lines) or (None, error text)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, **(env or {})), timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    dt = time.monotonic() - t0
    # 7zz exits 2 on warnings such as a partition's trailing gap; its listing is still complete.
    if p.returncode != 0 and not (argv[0] == "7zz" and p.returncode == 2 and p.stdout):
        return None, f"exit {p.returncode}: {p.stderr.decode(errors='replace').strip()[:300]}"
    return dt, p.stdout.count(b"\n")


def measure(argv, runs, env=None):
    times, lines, error = [], None, None
    for _ in range(runs):
        dt, extra = time_command(argv, env)
        if dt is None:
            error = extra
            break
        times.append(dt)
        lines = extra
    if error:
        log(f"bench:   fail: {' '.join(argv)}: {error}")
        return {"status": "fail", "error": error}
    return {"status": "ok", "median": statistics.median(times), "times": times, "lines": lines}


def fmt_s(r):
    if r is None:
        return "n/a"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['median']:.3f}"


def ratio(a, b, speedup=False):
    if a and b and a.get("status") == "ok" and b.get("status") == "ok" and b["median"] > 0:
        return f"{a['median'] / b['median']:.0f}x" if speedup else f"{a['median'] / b['median']:.2f}"
    return "–"


def merged(paths):
    """Rows of earlier --json files, with each later file's measurements replacing theirs (e.g. a
    corral-only re-run with --no-libguestfs keeps the earlier libguestfs figures)."""
    rows = {}
    for path in paths:
        for row in json.load(open(path)):
            key = (row["image"], row["op"])
            old = rows.get(key)
            if old is None:
                rows[key] = row
                continue
            for field in ("corral", "libguestfs"):
                if row.get(field) is not None:
                    old[field] = row[field]
            old["floors"].update(row.get("floors") or {})
    return list(rows.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of corral and of each floor tool")
    ap.add_argument("--lg-runs", type=int, default=3, help="runs of each libguestfs tool (~30 s each)")
    ap.add_argument("--only", default=",".join(OPS), help="operations, comma-separated")
    ap.add_argument("--images", default="ext4.raw,ext4.qcow2,fat.img,iso.iso")
    ap.add_argument("--no-libguestfs", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--write-readme", action="store_true", help="replace the results block in bench/README.md")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="measure nothing: print (and with --write-readme, record) the table of earlier --json files")
    args = ap.parse_args()
    only = args.only.split(",")
    if args.from_json:
        rows = merged(args.from_json)
        # The header states what was measured: the runs found in the files, dated by the newest.
        args.runs = max((len(r["corral"]["times"]) for r in rows if r.get("corral") and r["corral"].get("times")), default=0)
        args.lg_runs = max((len(r["libguestfs"]["times"]) for r in rows if r.get("libguestfs") and r["libguestfs"].get("times")), default=0)
        args.when = max(os.path.getmtime(p) for p in args.from_json)
        table = format_table(rows, args)
        print(table)
        if args.write_readme:
            write_readme(table)
        return

    build_images()
    dirs = open(os.path.join(IMAGES, "ext4.dirs")).read().split()
    with open(os.path.join(IMAGES, "ext4.dirs.debugfs"), "w") as f:
        f.write("".join(f"ls -l {d}\n" for d in dirs))
    if not os.access(corral_binary(), os.X_OK):
        log(f"bench: {corral_binary()} is not built (swift build -c release --product corral); corral is n/a")

    results = []
    for image, op, cargv, lgargv, floors in measurements(args.images.split(",")):
        if op not in only:
            continue
        log(f"bench: {image} {op}")
        row = {"image": image, "op": op}
        row["corral"] = measure(cargv, args.runs) if corral_has(op) else None
        row["floors"] = {label: measure(argv, args.runs) for label, argv in floors if have(argv[0])}
        if not args.no_libguestfs and have(lgargv[0]):
            row["libguestfs"] = measure(lgargv, args.lg_runs, LG_ENV)
        else:
            row["libguestfs"] = None
        results.append(row)

    table = format_table(results, args)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.write_readme:
        write_readme(table)


def best_floor(row):
    ok = [(r["median"], label, r) for label, r in row["floors"].items() if r["status"] == "ok"]
    if ok:
        m, label, r = min(ok, key=lambda x: x[0])
        return label, r
    if row["floors"]:
        label, r = next(iter(row["floors"].items()))
        return label, r
    return None, None


def format_table(results, args):
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(getattr(args, "when", None)))
    lines = [f"{when} UTC, {os.cpu_count()} cores, corral `{os.path.relpath(corral_binary(), ROOT)}`, "
             f"medians of {args.runs} runs (libguestfs: {args.lg_runs}); times in seconds; "
             "lines = output lines (corral / libguestfs / floor).",
             "",
             "| image | operation | corral | libguestfs | floor | floor tool | libguestfs/corral | corral/floor | lines |",
             "|---|---|---:|---:|---:|---|---:|---:|---|"]
    for row in results:
        label, floor = best_floor(row)
        c, lg = row["corral"], row["libguestfs"]
        count = " / ".join(str(r["lines"]) if r and r.get("status") == "ok" else "–" for r in (c, lg, floor))
        lines.append(f"| {row['image']} | {row['op']} | {fmt_s(c)} | {fmt_s(lg)} | {fmt_s(floor)} | {label or '–'} "
                     f"| {ratio(lg, c, speedup=True)} | {ratio(c, floor)} | {count} |")
    return "\n".join(lines)


BEGIN, END = "<!-- guestfs_vs_libguestfs:begin -->", "<!-- guestfs_vs_libguestfs:end -->"


def write_readme(table):
    text = open(README).read()
    if BEGIN not in text or END not in text:
        log("bench: bench/README.md has no results markers; not written")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(README, "w") as f:
        f.write(head + BEGIN + "\n" + table + "\n" + END + tail)
    log("bench: results written to bench/README.md")


if __name__ == "__main__":
    main()
