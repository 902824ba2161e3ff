"""The console pages' own tools: host text typed into a VNC guest as key presses (#paste-text,
#paste-send), a local file uploaded into a new volume with a progress bar, and the daemon's errors
shown where the user acted (the storage form, the wizard's field)."""
import os
import urllib.request
import xml.etree.ElementTree as ET

import pytest

import ui
from webd import guest_files, tiny_domain_xml

NAME = "tools-tiny"
UPLOAD = "upload-test.img"


@pytest.fixture(scope="module")
def page(browser, corral):
    return ui.Console(browser, corral.base_url)


@pytest.fixture(scope="module")
def vga_guest(tiny, corral):
    """The tiny guest with VNC graphics and its shell on the VGA console (the last console= is
    /dev/console), so key presses typed over VNC reach the shell; the serial port stays the
    kernel's, where the test reads what the typed command wrote."""
    files = guest_files(tiny, corral, NAME)
    root = ET.fromstring(tiny_domain_xml(tiny, files, NAME))
    cmdline = root.find("os/cmdline")
    cmdline.text = cmdline.text + " console=tty0"
    devices = root.find("devices")
    ET.SubElement(devices, "graphics", type="vnc", autoport="yes", listen="127.0.0.1")
    ET.SubElement(ET.SubElement(devices, "video"), "model", type="vga")
    corral.api_ok("POST", "/connections/local/domains?start=1", xml=ET.tostring(root, encoding="unicode"))
    yield NAME
    corral.remove_domain(NAME)


def test_vnc_paste_types_text_as_keys(page, corral, vga_guest, shot):
    # Shifted symbols and digits: each needs the right key and Shift state on the US layout.
    command = 'echo "typed:$((6*7)) ABC ~!@#%^&*()_+{}|<>?:" >/dev/ttyS0'
    expected = "typed:42 ABC ~!@#%^&*()_+{}|<>?:"
    # What the typed command writes to the serial port is read from the host's serial log: a
    # second tab's xterm.js is not redrawn while Chromium keeps that tab in the background.
    serial_log = corral.serial_log(NAME)

    def on_serial():
        try:
            with open(serial_log, errors="replace") as f:
                return expected in f.read()
        except OSError:
            return False

    page.open(f"/c/local/console/{NAME}/vnc")
    page.wait("#vnc-screen canvas", visible=False)
    page.wait_text("#console-status", lambda t: t == "connected", ui.PAGE, "the VNC console to connect")

    def typed():
        # Until the shell runs on tty0 the keys are lost or queued: type again each round.
        page.fill("#paste-text", command + "\n")
        page.click("#paste-send")
        page.wait_text(".paste-progress", lambda t: t in ("sent", "stopped"), ui.PAGE, "the typing to finish")
        try:
            return page.until(on_serial, 5, "x", interval=0.5)
        except AssertionError:
            return False
    page.until(typed, ui.BOOT, f"'{expected}' on the serial port, written by the command typed over VNC",
               interval=1)
    shot("console-vnc-paste")


def test_upload_shows_progress_and_stores_the_file(page, corral, tmp_path, shot):
    data = os.urandom(3 << 20) + b"corral upload end"
    path = tmp_path / UPLOAD
    path.write_bytes(data)
    content = f"/connections/local/pools/default/volumes/{UPLOAD}"
    try:
        page.open("/c/local/storage")
        page.wait('[data-pool="default"]')
        page.wait("#volume-upload-file", visible=False).send_keys(str(path))
        page.wait_text("#volume-upload-status", lambda t: t.startswith("uploaded"), ui.PAGE * 2,
                       "the upload to finish")
        assert not page.errors(), page.errors()
        assert float(page.wait("#volume-upload-progress").get_attribute("value")) == 1
        page.wait(f'[data-volume="{UPLOAD}"]')
        with urllib.request.urlopen(corral.base_url + "/api/v1" + content + "/content", timeout=60) as r:
            assert r.read() == data, "the volume's content differs from the uploaded file"
        shot("storage-upload")
    finally:
        corral.api("DELETE", content)


def test_storage_error_next_to_the_form(page, corral):
    vol = "dup-test.qcow2"
    body = {"name": vol, "capacity": 1 << 20, "format": "qcow2"}
    try:
        corral.api_ok("POST", "/connections/local/pools/default/volumes", body=body)
        # What the daemon says to a second create of the same name.
        again = corral.api("POST", "/connections/local/pools/default/volumes", body=body)
        assert again.status == 409, again
        page.open("/c/local/storage")
        page.wait(f'[data-volume="{vol}"]')
        page.fill("#new-volume-name", vol)
        page.fill("#new-volume-size", 1)
        page.click("#new-volume-create")
        box = page.wait("#new-volume .error-message")
        assert box.text == again.json()["error"]["message"]
    finally:
        corral.api("DELETE", f"/connections/local/pools/default/volumes/{vol}")


def test_wizard_error_at_the_field(page, corral, tiny):
    page.open("/c/local/new")
    page.wait("form#wizard")
    page.click('input[name="install"][value="kernel"]')
    page.fill('input[name="kernel"]', tiny["kernel"])
    page.fill('input[name="name"]', "bad name")
    page.fill('input[name="diskSize"]', 0)
    page.click("#wizard-preview")
    box = page.wait('.wz-field .error-message')
    assert "bad name" in box.text, box.text
    name = page.find('input[name="name"]')
    assert name.get_attribute("aria-invalid") == "true"
    assert box.find_element("xpath", "..") == name.find_element("xpath", "..")
