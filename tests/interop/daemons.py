"""The two daemons the interop suite and bench/daemon_vs_libvirtd.py drive with the same clients:
a real libvirtd (scripts/libvirtd-anchor.sh) and Corral's corrald. Stdlib only, /usr/bin/python3.
"""
import ctypes, os, re, signal, socket, subprocess, threading, time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANCHOR = os.path.join(REPO, "scripts", "libvirtd-anchor.sh")
TINY_DIR = os.path.join(REPO, ".build", "tiny-guest")
READY = "corral-tiny-guest: ready"


def corrald_binary():
    return os.environ.get("CORRALD") or os.path.join(REPO, ".build", "debug", "corrald")


def corrald_missing_reason():
    """Why corrald cannot be run, or None."""
    b = corrald_binary()
    if not os.access(b, os.X_OK):
        return f"corrald is not built ({b} missing; `swift build --product corrald`, or set CORRALD)"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


_reaper_started = False


def become_subreaper():
    """Orphaned QEMUs (a killed corrald's children, libvirt's daemonized guests, the anchor's tini)
    are re-parented to this process instead of the host's init, which reaps slowly here; a zombie
    QEMU still answers kill(pid, 0), so a daemon that polls its guest's pid would wait for it.
    A thread reaps exactly those by command name (QEMU, tini, and the `sh` a daemon may wrap QEMU
    in), never our own subprocess children: nothing here runs a shell through subprocess."""
    global _reaper_started
    if _reaper_started:
        return
    _reaper_started = True
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    me = os.getpid()

    def reap():
        while True:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open(f"/proc/{d}/stat") as f:
                        st = f.read()
                except OSError:
                    continue
                comm = st[st.find("(") + 1:st.rfind(")")]
                fields = st[st.rfind(")") + 2:].split()
                if fields[0] == "Z" and int(fields[1]) == me and (comm.startswith("qemu-system") or comm in ("tini", "sh")):
                    try:
                        os.waitpid(int(d), os.WNOHANG)
                    except ChildProcessError:
                        pass
            time.sleep(0.05)

    threading.Thread(target=reap, daemon=True, name="qemu-reaper").start()


def virsh(uri, *args, input=None, timeout=60, check=True):
    # No inherited stdin: CI runs without one, and virsh must never wait on a terminal.
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    p = subprocess.run(["virsh", "-c", uri, *args], **stdin, capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, LC_ALL="C"))
    if check and p.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def ensure_tiny_guest():
    """Builds (or re-validates the cache of) the tiny guest; returns tiny.xml's path."""
    subprocess.run([os.path.join(REPO, "scripts", "tiny-guest.sh"), TINY_DIR], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return os.path.join(TINY_DIR, "tiny.xml")


class Daemon:
    kind = "?"
    uri = uri_ro = tcp_uri = None
    workdir = None

    def pid(self):
        raise NotImplementedError

    def serial_log(self, name):
        """Path of the file the guest's serial console is written to."""
        raise NotImplementedError

    def domain_xml(self, name, disk=True):
        """tiny.xml renamed to `name`, with its own qcow2 overlay of the data disk (several guests
        may run at once and QEMU locks images), adapted so serial_log(name) gets the console."""
        tree = ET.parse(ensure_tiny_guest())
        root = tree.getroot()
        root.find("name").text = name
        devices = root.find("devices")
        for d in devices.findall("disk"):
            if not disk:
                devices.remove(d)
                continue
            src = d.find("source")
            overlay = os.path.join(self.workdir, "disks", f"{name}.qcow2")
            os.makedirs(os.path.dirname(overlay), exist_ok=True)
            if os.path.exists(overlay):
                os.unlink(overlay)
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                            src.get("file"), overlay], check=True)
            src.set("file", overlay)
        self._adapt_serial(root, name)
        return ET.tostring(root, encoding="unicode")

    def _adapt_serial(self, root, name):
        pass


class Libvirtd(Daemon):
    """The real libvirtd, through scripts/libvirtd-anchor.sh."""
    kind = "libvirtd"

    def __init__(self, workdir, tcp_port=None):
        self.workdir = workdir
        self.tcp_port = tcp_port or free_port()

    def start(self):
        p = subprocess.run([ANCHOR, "start", self.workdir, "--tcp", str(self.tcp_port)],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"libvirtd-anchor start failed: {p.stderr.strip()}")
        self.uri = p.stdout.strip()
        self.uri_ro = self.uri.replace("/libvirt-sock", "/libvirt-sock-ro")
        self.tcp_uri = f"qemu+tcp://127.0.0.1:{self.tcp_port}/system"
        return self

    def stop(self):
        subprocess.run([ANCHOR, "stop", self.workdir], stdin=subprocess.DEVNULL, capture_output=True)

    def restart(self):
        p = subprocess.run([ANCHOR, "restart", self.workdir], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"libvirtd-anchor restart failed: {p.stderr.strip()}")

    def pid(self):
        with open(os.path.join(self.workdir, "run", "libvirtd.pid")) as f:
            return int(f.read().strip())

    def serial_log(self, name):
        return os.path.join(self.workdir, "serial", f"{name}-serial0.log")

    def _adapt_serial(self, root, name):
        # libvirtd writes a serial device's output to a file (through virtlogd) only when asked.
        os.makedirs(os.path.join(self.workdir, "serial"), exist_ok=True)
        path = self.serial_log(name)
        if os.path.exists(path):
            os.unlink(path)
        for s in root.find("devices").findall("serial"):
            ET.SubElement(s, "log", {"file": path, "append": "off"})


class Corrald(Daemon):
    """corrald --root ROOT --listen 127.0.0.1:PORT --http 127.0.0.1:PORT2, started and stopped by PID."""
    kind = "corrald"

    def __init__(self, workdir, tcp_port=None):
        self.workdir = workdir
        self.root = os.path.join(workdir, "root")
        self.tcp_port = tcp_port or free_port()
        self.proc = None
        sock = os.path.join(self.root, "run", "libvirt-sock")
        self.uri = f"qemu+unix:///system?socket={sock}"
        self.uri_ro = f"qemu+unix:///system?socket={sock}-ro"
        self.tcp_uri = f"qemu+tcp://127.0.0.1:{self.tcp_port}/system"
        # The web console too, for its /metrics (test_metrics.py).
        self.http_port = free_port()
        self.http_url = f"http://127.0.0.1:{self.http_port}"

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        log = open(os.path.join(self.workdir, "corrald.log"), "ab")
        self.proc = subprocess.Popen([corrald_binary(), "--root", self.root, "--listen", f"127.0.0.1:{self.tcp_port}",
                                      "--http", f"127.0.0.1:{self.http_port}"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"corrald exited with {self.proc.returncode}: {self.log_tail()}")
            return os.path.exists(os.path.join(self.root, "run", "libvirt-sock")) and \
                virsh(self.uri, "uri", check=False, timeout=10).returncode == 0
        wait_until(up, 30, "corrald to answer on its socket")
        return self

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.workdir, "corrald.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _kill(self, sig, timeout):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        # corrald leaves guests running when it exits (like libvirtd): kill those it started, by pid.
        self._kill(signal.SIGTERM, 20)
        for pid in self._guest_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _guest_pids(self):
        pids = []
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                if f.endswith(".pid"):
                    try:
                        with open(os.path.join(dirpath, f)) as fh:
                            pid = int(fh.read().split()[0])
                        with open(f"/proc/{pid}/cmdline", "rb") as fh:
                            if b"qemu-system" in fh.read().split(b"\0")[0] and alive(pid):
                                pids.append(pid)
                    except (OSError, ValueError, IndexError):
                        pass
        return pids

    def restart(self):
        self._kill(signal.SIGTERM, 20)
        self.start()

    def pid(self):
        return self.proc.pid

    def serial_log(self, name):
        return os.path.join(self.root, "log", "qemu", f"{name}-serial0.log")


def make_daemon(kind, workdir):
    os.makedirs(workdir, exist_ok=True)
    return {"libvirtd": Libvirtd, "corrald": Corrald}[kind](workdir)


def wait_ready(daemon, name, timeout=90):
    """Waits for the tiny guest's ready line in its serial log; returns the time it appeared."""
    path = daemon.serial_log(name)

    def seen():
        try:
            with open(path, errors="replace") as f:
                return READY in f.read()
        except OSError:
            return False
    wait_until(seen, timeout, f"'{READY}' in {path}", interval=0.02)
    return time.monotonic()


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else None
