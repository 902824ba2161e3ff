"""Browser suite: headless Chromium (Debian's chromium + chromium-driver, python3-selenium) against
corrald's web console. Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/browser

Builds nothing: corrald and corral come from .build/debug (or $CORRAL_BIN_DIR); the suite skips,
saying so, while they are missing. Each corrald gets a temporary root and is stopped by PID (then
the guests it started, by their pid files) even when a test fails.
Screenshots go to tests/browser/out/ (or $SCREENSHOTS_DIR, e.g. docs/screenshots for the README);
a failing test also leaves FAIL-<test>.png and the browser's console log there.
"""
import os, shutil, subprocess, tempfile

import pytest

import webd

OUT_DIR = os.environ.get("SCREENSHOTS_DIR") or os.path.join(webd.HERE, "out")
KEEP = os.environ.get("BROWSER_KEEP") == "1"


def pytest_configure(config):
    webd.daemons.become_subreaper()
    config.addinivalue_line("markers", "incremental: later tests in the class xfail once one failed")


# The docs' "incremental" recipe: the console flow is one story told in steps; once a step fails the
# later ones report that instead of failing for the same reason.
def pytest_runtest_setup(item):
    if "incremental" in item.keywords:
        prev = getattr(item.parent, "_previousfailed", None)
        if prev is not None:
            pytest.xfail(f"previous step failed ({prev.name})")


@pytest.fixture(scope="session")
def tiny():
    """The tiny guest's files (scripts/tiny-guest.sh, cached in .build/tiny-guest)."""
    xml = webd.daemons.ensure_tiny_guest()
    d = os.path.dirname(xml)
    with open(os.path.join(d, "cmdline")) as f:
        cmdline = f.read().strip()
    return {"dir": d, "xml": xml, "kernel": os.path.join(d, "vmlinuz"), "initrd": os.path.join(d, "initrd.img"),
            "disk": os.path.join(d, "data.qcow2"), "cmdline": cmdline}


def _start_corrald(prefix, tcp=False):
    if why := webd.missing_binaries():
        pytest.skip(why)
    workdir = tempfile.mkdtemp(prefix=prefix)
    d = webd.WebCorrald(workdir, tcp=tcp)
    try:
        d.start()
    except BaseException:
        d.stop()
        raise
    return d


def _stop_corrald(d):
    d.stop()
    if KEEP:
        print(f"\nBROWSER_KEEP=1: corrald's root and log kept in {d.workdir}")
    else:
        shutil.rmtree(d.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def corral():
    """The console's own corrald (connection "local")."""
    d = _start_corrald("browser-corrald-")
    yield d
    _stop_corrald(d)


@pytest.fixture(scope="session")
def corral2():
    """A second corrald (another root) listening on TCP, for the remote-host test."""
    d = _start_corrald("browser-corrald2-", tcp=True)
    yield d
    _stop_corrald(d)


@pytest.fixture(scope="session")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("python3-selenium is missing for /usr/bin/python3 (scripts/setup.sh installs it)", pytrace=False)
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not os.access(driver_path, os.X_OK):
        pytest.fail("chromedriver is not installed (apt-get install chromium-driver; scripts/setup.sh does it)",
                    pytrace=False)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        pytest.fail("chromium is not installed (apt-get install chromium; scripts/setup.sh does it)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    # CI runs as root in a container: no sandbox, no /dev/shm of useful size, no display.
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log_path = os.path.join(tempfile.gettempdir(), "browser-chromedriver.log")
    try:
        drv = webdriver.Chrome(service=Service(driver_path, log_path=log_path), options=opts)
    except Exception as e:  # noqa: BLE001 - turn any start-up failure into one readable line
        pytest.fail(f"could not start headless Chromium through {driver_path}: {e} (see {log_path})", pytrace=False)
    drv.set_script_timeout(120)
    # --window-size is the outer window; the pages (and screenshots) get 1280x900 of viewport.
    inner = drv.execute_script("return [window.innerWidth, window.innerHeight]")
    outer = drv.get_window_size()
    drv.set_window_size(outer["width"] + 1280 - inner[0], outer["height"] + 900 - inner[1])
    yield drv
    drv.quit()


@pytest.fixture(scope="session")
def out_dir():
    os.makedirs(OUT_DIR, exist_ok=True)
    return OUT_DIR


@pytest.fixture
def shot(browser, out_dir):
    """shot("guest-list") writes OUT/guest-list.png of the current page."""
    def _shot(name):
        path = os.path.join(out_dir, f"{name}.png")
        assert browser.save_screenshot(path), f"screenshot {path} failed"
        return path
    return _shot


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    if "incremental" in item.keywords:
        item.parent._previousfailed = item
    drv = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if rep.when != "call" or drv is None:
        return
    # Post-mortem: what the page looked like and what its console said.
    os.makedirs(OUT_DIR, exist_ok=True)
    name = item.name.replace("/", "_")
    try:
        drv.save_screenshot(os.path.join(OUT_DIR, f"FAIL-{name}.png"))
        with open(os.path.join(OUT_DIR, f"FAIL-{name}.console.txt"), "w") as f:
            f.write(f"url: {drv.current_url}\n")
            for e in drv.get_log("browser"):
                f.write(f"{e.get('level')} {e.get('message')}\n")
    except Exception as e:  # noqa: BLE001 - a post-mortem must not mask the failure
        rep.sections.append(("browser post-mortem", f"could not save: {e}"))
