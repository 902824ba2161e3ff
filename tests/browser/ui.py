"""What the tests do with the console's pages, through the element hooks the pages promise
(see tests/browser/README.md). Every wait is explicit, with a timeout generous enough for TCG guests
on a busy 2-core CI machine, and says what it waited for when it times out.
"""
import time

from selenium.common.exceptions import (ElementClickInterceptedException, JavascriptException, NoSuchElementException,
                                        StaleElementReferenceException, WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

# Seconds. Guests boot under TCG; CI shares 2 cores between the daemon, QEMU and Chromium.
PAGE = 30
READY_TEXT = "corral-tiny-guest: ready"
BOOT = 240

# Pixels that are neither transparent nor black: what a rendered VNC frame or chart has.
_NONBLANK_JS = """
const c = arguments[0];
if (!c || !c.width || !c.height) return -1;
const ctx = c.getContext('2d');
if (!ctx) return -2;
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] > 16 || d[i + 1] > 16 || d[i + 2] > 16)) n++;
return n;
"""

# Most non-null points in any dataset of the Chart.js chart on a canvas (-1: no chart there).
_CHART_POINTS_JS = """
const ch = window.Chart && window.Chart.getChart(arguments[0]);
if (!ch) return -1;
const val = (p) => (p !== null && typeof p === 'object') ? p.y : p;
return Math.max(0, ...ch.data.datasets.map(ds => ds.data.filter(p => val(p) !== null && val(p) !== undefined).length));
"""

# Resolves after `count` stats frames on the event stream (the same stream the pages listen to).
_STATS_JS = """
const [count, done] = [arguments[0], arguments[arguments.length - 1]];
const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
const ws = new WebSocket(proto + '//' + location.host + '/api/v1/events');
let n = 0;
ws.onmessage = (e) => { try { if (JSON.parse(e.data).type === 'stats' && ++n >= count) { ws.close(); done(n); } } catch (_) {} };
ws.onerror = () => done('websocket error');
ws.onclose = (e) => { if (n < count) done('closed after ' + n + ' stats frames, code ' + e.code); };
"""


class Console:
    def __init__(self, driver, base_url):
        self.d = driver
        self.base = base_url

    # -- navigation -------------------------------------------------------------------------
    def open(self, route):
        """Loads the console at #route (a fresh document: no state from the previous page)."""
        self.d.get(f"{self.base}/?t={time.monotonic_ns()}#{route}")
        self.wait_js("return document.readyState === 'complete'", PAGE, "the page to load")

    def go(self, route):
        """Follows an in-app link to #route (hash change, same document)."""
        self.d.execute_script("location.hash = arguments[0]", route)

    def mark_document(self):
        """Tags the current document; still_same_document() is false after a reload."""
        self.d.execute_script("window.__corralTestMark = 1")

    def still_same_document(self):
        return self.d.execute_script("return window.__corralTestMark === 1")

    # -- waiting ------------------------------------------------------------------------------
    def until(self, fn, timeout, what, interval=0.2):
        """Polls fn() until it returns something truthy; stale elements and JS errors just retry."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = fn()
                if v:
                    return v
                last = v
            except (StaleElementReferenceException, NoSuchElementException, JavascriptException) as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r}; "
                                     f"url {self.d.current_url}){self.error_suffix()}")
            time.sleep(interval)

    def wait_js(self, script, timeout, what, *args):
        return self.until(lambda: self.d.execute_script(script, *args), timeout, what)

    def find(self, css, within=None):
        els = (within or self.d).find_elements(By.CSS_SELECTOR, css)
        return els[0] if els else None

    def wait(self, css, timeout=PAGE, visible=True, within=None):
        """The first element matching css (displayed, unless visible=False)."""
        def found():
            for el in (within or self.d).find_elements(By.CSS_SELECTOR, css):
                if not visible or el.is_displayed():
                    return el
            return None
        return self.until(found, timeout, f"element {css!r}" + (" to be visible" if visible else ""))

    def wait_gone(self, css, timeout=PAGE):
        self.until(lambda: not self.d.find_elements(By.CSS_SELECTOR, css), timeout, f"{css!r} to disappear")

    def wait_text(self, css, predicate, timeout, what):
        """Waits until predicate(text of css) holds; returns the text."""
        def check():
            el = self.find(css)
            t = el.text if el is not None else None
            return t if t is not None and predicate(t) else None
        return self.until(check, timeout, what)

    def errors(self):
        return [e.text for e in self.d.find_elements(By.CSS_SELECTOR, ".error-message") if e.text.strip()]

    def error_suffix(self):
        try:
            errs = self.errors()
        except WebDriverException:
            return ""
        return f"; page shows errors: {errs}" if errs else ""

    # -- forms ---------------------------------------------------------------------------------
    def fill(self, css, value, within=None):
        el = self.wait(css, within=within)
        # clear() does not fire 'input' on every framework-less page; select-all + type does.
        el.send_keys(Keys.CONTROL, "a")
        el.send_keys(Keys.DELETE)
        el.send_keys(str(value))
        return el

    def select(self, css, value):
        Select(self.wait(css)).select_by_value(value)

    def value(self, css):
        return self.wait(css, visible=False).get_attribute("value")

    def click(self, css, within=None, timeout=PAGE):
        """Clicks the first visible, enabled match; a list re-rendered under the pointer (search
        results, live rows) is found again."""
        def attempt():
            el = self.wait(css, timeout, within=within)
            if not el.is_enabled():
                return None
            self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
            try:
                el.click()
            except ElementClickInterceptedException:
                return None
            return el
        return self.until(attempt, timeout, f"{css!r} to be enabled and clickable")

    # -- guest list ----------------------------------------------------------------------------
    def row(self, name):
        return self.find(f'tr[data-domain="{name}"]')

    def row_state(self, name):
        r = self.row(name)
        if r is None:
            return None
        cell = self.find('[data-field="state"]', within=r)
        return cell.text.strip() if cell is not None else None

    def wait_state(self, name, state, timeout, confirm=False):
        """Waits for the guest list row's state cell to read `state`; with confirm, accepts a
        confirmation dialog (#confirm-ok) if the action asked for one."""
        def check():
            if confirm:
                ok = self.find("#confirm-ok")
                if ok is not None and ok.is_displayed():
                    ok.click()
            return self.row_state(name) == state
        self.until(check, timeout, f"guest {name!r} to show state {state!r} in its row")

    # -- consoles ------------------------------------------------------------------------------
    def terminal_text(self):
        rows = self.find("#serial-terminal .xterm-rows")
        return rows.get_attribute("textContent") if rows is not None else None

    def type_terminal(self, text):
        ta = self.wait("#serial-terminal .xterm-helper-textarea", visible=False)
        self.d.execute_script("arguments[0].focus()", ta)
        ta.send_keys(text)

    def serial_shows_ready(self):
        """The serial console shows the tiny guest's ready line. The guest may have printed it
        before the page connected (the proxy does not replay old output): when a shell prompt
        answers Enter but the line is not on screen, reboot the guest by typing into the terminal
        and wait for the line of the next boot."""
        self.wait("#serial-terminal .xterm-rows", visible=False)
        start = time.monotonic()

        def seen():
            t = self.terminal_text() or ""
            if READY_TEXT in t:
                return "ready"
            # A booting guest prints the line within seconds; after that, ask for a prompt.
            if time.monotonic() - start > 20:
                if "tiny#" in t:
                    return "prompt"
                self.type_terminal("\n")
            return None
        if self.until(seen, BOOT, f"'{READY_TEXT}' or the shell prompt in the serial console", interval=2) == "ready":
            return
        self.type_terminal("reboot\n")
        self.until(lambda: READY_TEXT in (self.terminal_text() or ""), BOOT,
                   f"'{READY_TEXT}' in the serial console's rows after a reboot typed into it")

    def nonblank_pixels(self, canvas):
        return self.d.execute_script(_NONBLANK_JS, canvas)

    def chart_points(self, canvas):
        return self.d.execute_script(_CHART_POINTS_JS, canvas)

    def wait_stats_frames(self, count):
        """Waits (in the page) for `count` stats frames on /api/v1/events."""
        n = self.d.execute_async_script(_STATS_JS, count)
        assert n == count, f"event stream: {n}"
