"""A real browser for the dashboard's tests and benchmarks: Debian's chromium, headless,
driven through chromium-driver by python3-selenium.

`Browser.page(base, route)` loads `/ui/#<route>` afresh and waits until the page says it
has drawn (document.body.dataset.page); `errors()` returns the console messages of level
SEVERE since the last call (uncaught exceptions, failed requests); `charts()` reads the
data uPlot holds for each chart of the page; `screenshot()` saves a PNG and returns how
many distinct colours it has (a blank page has one).
"""
import os
import shutil
import tempfile
import time

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def distinct_colours(png_path):
    """Distinct pixel values of a PNG (python3-pil)."""
    from PIL import Image
    with Image.open(png_path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours)


class Browser:
    def __init__(self, width=1280, height=1000):
        if not os.path.exists(CHROMEDRIVER):
            pytest.skip("chromium-driver is not installed (scripts/setup.sh --test)")
        self.profile = tempfile.mkdtemp(prefix="dd-chromium-")
        o = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=%d,%d" % (width, height), "--user-data-dir=" + self.profile,
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
        self.d.set_page_load_timeout(30)

    def quit(self):
        try:
            self.d.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def page(self, base, route, expect=None, timeout=30):
        """Load /ui/#route from scratch; wait for the page named `expect` (default: the
        route's first word, "projects" for "/") to draw. Returns the seconds it took."""
        self.d.get("about:blank")
        t0 = time.monotonic()
        self.d.get(base + "/ui/#" + route)
        name = expect or (route.strip("/").split("/")[0].split("?")[0] or "projects")
        self.wait_page(name, timeout)
        return time.monotonic() - t0

    def wait_page(self, name, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            got = self.js("return document.body.dataset.page || null")
            if got == name:
                return
            if time.monotonic() > deadline:
                raise AssertionError("page %r not drawn in %s s (now %r): %s"
                                     % (name, timeout, got, self.text("view")[:500]))
            time.sleep(0.02)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def text(self, element_id):
        return self.d.find_element(By.ID, element_id).text

    def find(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def click(self, css, tries=20):
        """Click the first element matching `css`, finding it again when a live update
        redrew it in between."""
        from selenium.common.exceptions import StaleElementReferenceException
        for _ in range(tries):
            try:
                self.find(css)[0].click()
                return
            except StaleElementReferenceException:
                time.sleep(0.05)
        raise AssertionError("%s kept being redrawn" % css)

    def errors(self):
        return [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"]

    def charts(self):
        """[{key, lines: [label...], xs: n, points: [non-null count per line]}]."""
        return self.js("""return window.ddCharts.map(c => ({
            key: c.key,
            lines: c.plot.series.slice(1).map(s => s.label),
            xs: c.plot.data[0].length,
            points: c.plot.data.slice(1).map(d => d.filter(v => v !== null).length),
            values: c.plot.data.slice(1)}))""")

    def screenshot(self, path):
        """Save a PNG of the viewport at `path`; return its number of distinct colours."""
        assert self.d.save_screenshot(path)
        return distinct_colours(path)
