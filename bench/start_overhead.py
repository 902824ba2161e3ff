#!/usr/bin/env python3
"""Corral's management overhead: `corral start` until the guest runs, versus
launching the same QEMU command line by hand and resuming it over QMP.

Both sides end at the same point: QEMU has started, QMP answered, the vCPUs run.
Usage: bench/start_overhead.py [--runs N]   (builds nothing; run scripts/demo.sh or swift build first)
"""
import argparse, json, os, shlex, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corral_bin():
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return os.path.join(out.stdout.strip(), "corral")


def qmp(path, commands, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError:
            if time.monotonic() > deadline: raise
            time.sleep(0.002)
    f = s.makefile("rw")
    f.readline()  # greeting
    replies = []
    for c in [{"execute": "qmp_capabilities"}] + commands:
        f.write(json.dumps(c) + "\n"); f.flush()
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                replies.append(msg); break
    s.close()
    return replies


def by_hand(argv, sock):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = qmp(sock, [{"execute": "cont"}, {"execute": "query-status"}])
    assert r[-1]["return"]["status"] == "running", r
    dt = time.monotonic() - t0
    p.send_signal(signal.SIGTERM); p.wait()
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--guest", default=os.path.join(ROOT, ".build/tiny-guest"))
    a = ap.parse_args()
    subprocess.run([os.path.join(ROOT, "scripts/tiny-guest.sh"), a.guest], check=True, stdout=subprocess.DEVNULL)
    corral = corral_bin()
    work = tempfile.mkdtemp(prefix="corral-bench-")
    uri = f"qemu:///embed?root={work}/root"
    run = lambda *args: subprocess.run([corral, "-c", uri, *args], check=True, capture_output=True, text=True)
    # A private copy of the data disk: QEMU locks images, and others may boot the shared guest.
    disk = os.path.join(work, "data.qcow2")
    subprocess.run(["cp", os.path.join(a.guest, "data.qcow2"), disk], check=True)
    with open(os.path.join(a.guest, "tiny.xml")) as f:
        xml = f.read().replace(os.path.join(a.guest, "data.qcow2"), disk)
    with open(os.path.join(work, "tiny.xml"), "w") as f:
        f.write(xml)
    run("define", os.path.join(work, "tiny.xml"))

    # The same command line Corral runs, with the monitor socket moved to our own directory.
    argv = shlex.split(run("domxml-to-native", "qemu-argv", "--domain", "tiny").stdout)
    sock = os.path.join(work, "hand.sock")
    argv = [x.replace(os.path.join(work, "root/run/qemu/tiny/monitor.sock"), sock) for x in argv]
    os.makedirs(os.path.join(work, "root/log/qemu"), exist_ok=True)

    corral_t, hand_t = [], []
    for i in range(a.runs):
        t0 = time.monotonic(); run("start", "tiny"); corral_t.append(time.monotonic() - t0)
        run("destroy", "tiny")
        hand_t.append(by_hand(argv, sock))
        print(f"run {i+1}/{a.runs}: corral start {corral_t[-1]*1000:.0f} ms, by hand {hand_t[-1]*1000:.0f} ms", file=sys.stderr)
    mc, mh = statistics.median(corral_t), statistics.median(hand_t)
    print(f"median corral start: {mc*1000:.0f} ms")
    print(f"median by hand:      {mh*1000:.0f} ms")
    print(f"overhead: {(mc-mh)*1000:.0f} ms, ratio {mc/mh:.2f}x")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
