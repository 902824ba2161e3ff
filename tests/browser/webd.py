"""corrald with its web console (--http 127.0.0.1:0), the JSON API over urllib, and the corral CLI,
for the browser suite. Builds nothing: uses .build/debug/{corrald,corral} or $CORRAL_BIN_DIR.
Reuses the interop suite's daemon helpers (start/stop by PID, guest cleanup by pid files).
"""
import json, os, re, shutil, subprocess, sys, urllib.error, urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import daemons  # noqa: E402

REPO = daemons.REPO
READY = daemons.READY
wait_until = daemons.wait_until
free_port = daemons.free_port

WEB_LINE = re.compile(r"web console on http://127\.0\.0\.1:(\d+)/")


def bin_dir():
    return os.environ.get("CORRAL_BIN_DIR") or os.path.join(REPO, ".build", "debug")


def missing_binaries():
    """Why the suite cannot run corrald/corral, or None."""
    for name in ("corrald", "corral"):
        path = os.path.join(bin_dir(), name)
        if not os.access(path, os.X_OK):
            return f"{path} is missing (`swift build --product corrald --product corral`, or set CORRAL_BIN_DIR)"
    return None


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class WebCorrald(daemons.Corrald):
    """corrald --root ROOT --http 127.0.0.1:0 [--listen 127.0.0.1:PORT]; the HTTP port is read from
    its log line `web console on http://127.0.0.1:PORT/`."""

    def __init__(self, workdir, tcp=False):
        super().__init__(workdir)
        self.tcp = tcp
        if not tcp:
            self.tcp_port = self.tcp_uri = None
        self.http_port = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        log_path = os.path.join(self.workdir, "corrald.log")
        args = [os.path.join(bin_dir(), "corrald"), "--root", self.root, "--http", "127.0.0.1:0",
                "--web-dir", os.path.join(REPO, "Web")]
        if self.tcp:
            args += ["--listen", f"127.0.0.1:{self.tcp_port}"]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"corrald exited with {self.proc.returncode}: {self.log_tail()}")
            with open(log_path, errors="replace") as f:
                m = WEB_LINE.search(f.read())
            if not m or not os.path.exists(os.path.join(self.root, "run", "libvirt-sock")):
                return None
            self.http_port = int(m.group(1))
            return True
        wait_until(up, 60, f"corrald's web console line in {log_path}")
        return self

    def api(self, method, path, body=None, xml=None, timeout=60):
        """One JSON API call (/api/v1 + path); never raises on HTTP errors."""
        headers, data = {}, None
        if xml is not None:
            headers["Content-Type"], data = "application/xml", xml.encode()
        elif body is not None:
            headers["Content-Type"], data = "application/json", json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + "/api/v1" + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return ApiResponse(r.status, r.headers, r.read().decode(errors="replace"))
        except urllib.error.HTTPError as e:
            return ApiResponse(e.code, e.headers, e.read().decode(errors="replace"))

    def api_ok(self, method, path, body=None, xml=None):
        r = self.api(method, path, body=body, xml=xml)
        assert 200 <= r.status < 300, f"{method} {path}: {r}"
        return r.json() if r.body and "json" in (r.headers.get("Content-Type") or "") else r.body

    def corral(self, *args, check=True, timeout=120):
        p = subprocess.run([os.path.join(bin_dir(), "corral"), "-c", self.uri, *args], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"corral {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        return p

    def remove_domain(self, name):
        """Best-effort cleanup of a guest a test made (force off, undefine)."""
        self.corral("destroy", name, check=False)
        self.corral("undefine", name, check=False)


def guest_files(tiny, daemon, name, disk_dir=None):
    """Private copies of the tiny guest's kernel, initrd and data disk for one guest: 'delete with
    storage' must never reach the shared cache in .build/tiny-guest. The disk goes to disk_dir
    (a pool's directory: the console deletes only disks that are pool volumes) as NAME.qcow2."""
    d = os.path.join(daemon.workdir, "guests", name)
    os.makedirs(d, exist_ok=True)
    files = {"kernel": os.path.join(d, "vmlinuz"), "initrd": os.path.join(d, "initrd.img"),
             "disk": os.path.join(disk_dir or d, f"{name}.qcow2")}
    for key in files:
        shutil.copyfile(tiny[key], files[key])
    return files


def tiny_domain_xml(tiny, files, name):
    """tiny.xml renamed to `name`, booting and using the private copies from guest_files()."""
    root = ET.parse(tiny["xml"]).getroot()
    root.find("name").text = name
    root.find("os/kernel").text = files["kernel"]
    root.find("os/initrd").text = files["initrd"]
    root.find("devices/disk/source").set("file", files["disk"])
    return ET.tostring(root, encoding="unicode")
