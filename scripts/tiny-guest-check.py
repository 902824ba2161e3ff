#!/usr/bin/env python3
"""Boots the guest built by tiny-guest.sh under QEMU (TCG) and checks its contract.

usage: tiny-guest-check.py DIR

Checks: the ready line appears (and reports the time to it), the data disk is mounted,
eth0 got 10.0.2.15 from QEMU's user network, the shell comes back after `exit`,
`reboot` reboots to ready again, and QMP
system_powerdown makes QEMU exit. Exits non-zero with a message on the first failure.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

READY = b"corral-tiny-guest: ready"


class Serial:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def wait_for(self, needle, timeout):
        """Returns the output up to and including needle; consumes it from the buffer."""
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {needle!r} within {timeout}s; last output:\n"
                                   + self.buf[-2000:].decode(errors="replace"))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError("serial closed; last output:\n" + self.buf[-2000:].decode(errors="replace"))
            self.buf += chunk
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def run(self, command, timeout=30):
        """Types command and returns what it printed, delimited by a marker echoed after it."""
        marker = f"@@done{time.monotonic_ns()}@@"
        # The marker is split in the typed text so the echo of the input cannot match it.
        half = len(marker) // 2
        self.sock.sendall(f"{command}; echo '{marker[:half]}''{marker[half:]}'\n".encode())
        out = self.wait_for(marker.encode() + b"\r\n", timeout)
        return out.decode(errors="replace")


class QMP:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        json.loads(self.file.readline())  # greeting
        self.execute("qmp_capabilities")

    def execute(self, cmd):
        self.file.write(json.dumps({"execute": cmd}).encode() + b"\n")
        self.file.flush()
        while True:
            msg = json.loads(self.file.readline())
            if "return" in msg or "error" in msg:
                return msg


def connect_retry(cls, path, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cls(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = os.path.abspath(sys.argv[1])
    with open(os.path.join(d, "cmdline")) as f:
        cmdline = f.read().strip()
    tmp = tempfile.mkdtemp(prefix="tiny-check.")
    ser_path, qmp_path = os.path.join(tmp, "serial.sock"), os.path.join(tmp, "qmp.sock")
    argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "256", "-smp", "1",
            "-kernel", f"{d}/vmlinuz", "-initrd", f"{d}/initrd.img", "-append", cmdline,
            "-drive", f"file={d}/data.qcow2,if=virtio,format=qcow2,snapshot=on",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-balloon-pci",
            "-display", "none", "-monitor", "none",
            "-serial", f"unix:{ser_path},server=on,wait=on",
            "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    t0 = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        ser = connect_retry(Serial, ser_path)
        ser.wait_for(READY, 60)
        boot = time.monotonic() - t0
        print(f"ready after {boot:.1f}s")

        out = ser.run("cat /mnt/data/hello.txt")
        assert "corral data disk" in out, f"data disk not readable:\n{out}"
        print("data disk: ok")
        out = ser.run("ip addr show eth0")
        assert "inet 10.0.2.15/" in out, f"eth0 has no 10.0.2.15:\n{out}"
        out = ser.run("ip route; cat /etc/resolv.conf")
        assert "default via 10.0.2.2" in out and "nameserver 10.0.2.3" in out, f"route/dns missing:\n{out}"
        print("network: ok")

        # The exiting shell hangs up the tty, dropping anything typed before the new prompt.
        ser.sock.sendall(b"exit\n")
        ser.wait_for(b"built-in shell (ash)", 30)
        ser.wait_for(b"tiny# ", 30)
        out = ser.run("echo respawned")
        assert "respawned" in out, f"no shell after exit:\n{out}"
        print("shell respawn: ok")

        t1 = time.monotonic()
        ser.sock.sendall(b"reboot\n")
        ser.wait_for(READY, 90)
        print(f"reboot: ok, ready again after {time.monotonic() - t1:.1f}s")
        out = ser.run("cat /mnt/data/hello.txt")
        assert "corral data disk" in out, f"data disk not readable after reboot:\n{out}"

        qmp = connect_retry(QMP, qmp_path)
        t2 = time.monotonic()
        reply = qmp.execute("system_powerdown")
        assert "return" in reply, f"system_powerdown failed: {reply}"
        try:
            qemu.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("QEMU still running 20s after system_powerdown; serial:\n"
                                 + ser.buf[-2000:].decode(errors="replace"))
        print(f"powerdown: ok, QEMU exited {time.monotonic() - t2:.1f}s after system_powerdown")
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        for p in (ser_path, qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(tmp)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, TimeoutError, EOFError) as e:
        sys.exit(f"tiny-guest-check: FAIL: {e}")
