"""Corral's own client (`corral -c URI`) against each daemon: a real libvirtd as well as corrald."""
import os, re, subprocess

import pytest

from daemons import REPO, wait_ready


def corral_bin():
    return os.environ.get("CORRAL") or os.path.join(REPO, ".build", "debug", "corral")


def corral(uri, *args, input=None, timeout=60, check=True):
    if not os.access(corral_bin(), os.X_OK):
        pytest.skip(f"corral is not built ({corral_bin()} missing; `swift build --product corral`, or set CORRAL)")
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    p = subprocess.run([corral_bin(), "-c", uri, *args], **stdin, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"corral {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def test_corral_drives_the_daemon(daemon, guest, tmp_path):
    xml = tmp_path / f"{guest}.xml"
    xml.write_text(daemon.domain_xml(guest))
    uri = daemon.uri
    assert f"Domain '{guest}' defined from {xml}" in corral(uri, "define", str(xml)).stdout
    assert re.search(rf"^\s*-\s+{guest}\s+shut off\s*$", corral(uri, "list", "--all").stdout, re.M)
    assert f"Domain '{guest}' started" in corral(uri, "start", guest).stdout
    assert corral(uri, "domstate", guest).stdout.strip() == "running"
    assert f"<name>{guest}</name>" in corral(uri, "dumpxml", guest).stdout
    wait_ready(daemon, guest)
    # The console is a stream over the RPC connection: type a command and read its answer.
    out = corral(uri, "console", guest, input="cat /mnt/data/hello.txt\n", timeout=60).stdout
    assert "corral data disk" in out, out
    assert f"Domain '{guest}' destroyed" in corral(uri, "destroy", guest).stdout
    assert corral(uri, "domstate", "--reason", guest).stdout.strip() == "shut off (destroyed)"
    assert f"Domain '{guest}' has been undefined" in corral(uri, "undefine", guest).stdout
    err = corral(uri, "domstate", guest, check=False)
    assert err.returncode == 1 and f"error: failed to get domain '{guest}'" in err.stderr, err.stderr
