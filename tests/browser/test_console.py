"""The console's main story on the local connection: the wizard makes a guest from the tiny guest's
kernel and disk, it boots, both consoles show it, the details page graphs it, a shutdown from the
CLI shows up live, and the guest list deletes it with its storage."""
import os

import pytest

import ui
from webd import guest_files

NAME = "web-tiny"
OS_ID = "linux2022"


@pytest.fixture(scope="module")
def page(browser, corral):
    return ui.Console(browser, corral.base_url)


@pytest.fixture(scope="module")
def files(tiny, corral):
    pool = corral.api_ok("GET", "/connections/local/pools/default")
    return guest_files(tiny, corral, NAME, disk_dir=pool["path"])


@pytest.fixture(scope="module", autouse=True)
def cleanup(corral):
    yield
    corral.remove_domain(NAME)


@pytest.mark.incremental
class TestLocalGuest:
    def test_wizard_fills_os_defaults(self, page, browser, corral, files, tiny, shot):
        defaults = corral.api_ok("GET", f"/osinfo/{OS_ID}")["defaults"]
        page.open("/c/local/new")
        page.wait("form#wizard")
        page.click('input[name="install"][value="kernel"]')
        page.fill('input[name="kernel"]', files["kernel"])
        page.fill('input[name="initrd"]', files["initrd"])
        page.fill('input[name="cmdline"]', tiny["cmdline"])
        # The tiny guest's disk as the guest's disk: the "from the kernel and disk".
        disk = page.find('input[name="disk"]')
        assert disk is not None and disk.is_displayed(), \
            "the wizard's kernel install offers no input[name=disk] for an existing disk image"
        page.fill('input[name="disk"]', files["disk"])
        page.fill('input[name="name"]', NAME)
        # Values no OS recommends, so that the check below sees the OS choice replace them.
        page.fill('input[name="memory"]', 17)
        page.fill('input[name="vcpus"]', 3)
        page.fill("#os-search", OS_ID)
        page.click(f'#os-results [data-os="{OS_ID}"]')
        assert page.value('input[name="os"]') == OS_ID
        page.until(lambda: page.value('input[name="memory"]') == str(defaults["memoryMiB"]), ui.PAGE,
                   f"memory to become {OS_ID}'s default {defaults['memoryMiB']} MiB")
        assert page.value('input[name="vcpus"]') == str(defaults["vcpus"])
        for field, key in (("diskBus", "diskBus"), ("nicModel", "nicModel"), ("video", "video"),
                           ("firmware", "firmware")):
            assert page.value(f'select[name="{field}"]') == defaults[key], field
        browser.execute_script("(arguments[0].closest('fieldset') || arguments[0]).scrollIntoView({block: 'start'})", page.wait("#os-search"))
        shot("wizard")

    def test_wizard_creates_and_starts(self, page, corral):
        # The tiny guest needs little: a user's override of the proposal, as in virt-manager.
        page.fill('input[name="memory"]', 256)
        page.fill('input[name="vcpus"]', 1)
        page.select('select[name="firmware"]', "bios")
        page.select('select[name="graphics"]', "vnc")
        # The existing disk is the only one: no new volume.
        page.fill('input[name="diskSize"]', 0)
        start = page.wait('input[name="start"]')
        if not start.is_selected():
            start.click()
        page.click("#wizard-create")
        page.until(lambda: corral.api("GET", f"/connections/local/domains/{NAME}").status == 200 or page.errors(),
                   ui.PAGE * 2, "the wizard to define the guest")
        assert not page.errors(), page.errors()
        page.open("/c/local/guests")
        page.wait(f'tr[data-domain="{NAME}"]')
        page.wait_state(NAME, "running", ui.PAGE * 2)
        dom = corral.api_ok("GET", f"/connections/local/domains/{NAME}")
        assert dom["state"] == "running" and dom["memoryKiB"] == 256 * 1024 and dom["vcpus"] == 1
        assert [g["type"] for g in dom["graphics"]] == ["vnc"] and dom["serials"] >= 1

    def test_serial_console(self, page, shot):
        page.open(f"/c/local/console/{NAME}/serial")
        page.serial_shows_ready()
        shot("console-serial")

    def test_vnc_console(self, page, shot):
        page.open(f"/c/local/console/{NAME}/vnc")
        canvas = page.wait("#vnc-screen canvas", visible=False)
        page.until(lambda: page.nonblank_pixels(canvas) > 200, ui.PAGE * 2,
                   "the VNC canvas to show non-black pixels")
        page.wait("#send-cad")
        shot("console-vnc")

    def test_details_page_graphs(self, page, corral, shot):
        page.open(f"/c/local/guest/{NAME}/performance")
        page.wait_text('[data-field="state"]', lambda t: "running" in t, ui.PAGE, "state 'running'")
        # "Some seconds of stats": the page has had 8 stats frames to draw from.
        page.wait_stats_frames(8)
        for chart in ("canvas#chart-cpu", "canvas#chart-memory", "canvas#chart-disk", "canvas#chart-net"):
            el = page.wait(chart)
            page.until(lambda: page.chart_points(el) >= 0, ui.PAGE, f"a Chart.js chart on {chart}")
        cpu = page.wait("canvas#chart-cpu")
        page.until(lambda: page.chart_points(cpu) >= 2, ui.PAGE, "two or more CPU samples in the CPU chart")
        shot("guest-details")
        page.click('a[data-tab="xml"]')
        page.until(lambda: f"<name>{NAME}</name>" in (page.value("textarea#xml-editor") or ""), ui.PAGE,
                   "the guest's XML in the editor")
        page.click('a[data-tab="hardware"]')
        page.wait('[data-device-kind="disk"]')

    def test_guest_list_live(self, page, shot):
        page.open("/c/local/guests")
        page.wait_state(NAME, "running", ui.PAGE)
        row = page.row(NAME)
        page.until(lambda: "%" in page.find('[data-field="cpu"]', within=page.row(NAME)).text, ui.PAGE,
                   "the CPU% cell to fill from the stats stream")
        for spark in ("canvas.spark-cpu", "canvas.spark-mem"):
            assert page.find(spark, within=row) is not None, spark
        shot("guest-list")

    def test_guest_list_phone_width(self, page, browser, shot):
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
        try:
            page.open("/c/local/guests")
            page.wait_state(NAME, "running", ui.PAGE)
            cell = page.find('[data-field="state"]', within=page.row(NAME))
            assert cell.is_displayed()
            page.until(lambda: "%" in page.find('[data-field="cpu"]', within=page.row(NAME)).text, ui.PAGE,
                       "the CPU% cell to fill from the stats stream")
            widths = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"the page scrolls sideways at 375px: {widths}"
            shot("guest-list-phone")
        finally:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def test_cli_shutdown_shows_live(self, page, corral):
        page.open("/c/local/guests")
        page.wait_state(NAME, "running", ui.PAGE)
        page.mark_document()
        corral.corral("destroy", NAME)
        page.wait_state(NAME, "shut off", ui.PAGE)
        assert page.still_same_document(), "the page reloaded to show the new state"

    def test_delete_with_storage(self, page, corral, files):
        page.click('button[data-action="delete"]', within=page.wait(f'tr[data-domain="{NAME}"]'))
        box = page.wait("#delete-storage")
        if not box.is_selected():
            box.click()
        page.click("#confirm-ok")
        page.wait_gone(f'tr[data-domain="{NAME}"]')
        assert corral.api("GET", f"/connections/local/domains/{NAME}").status == 404
        assert not os.path.exists(files["disk"]), "delete with storage left the disk"
        assert os.path.exists(files["kernel"]), "delete with storage removed the kernel it booted"
