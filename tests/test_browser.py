"""What a person sees, in a real browser: the course website, and JupyterLab running a notebook.

Playwright drives Debian's Chromium (/usr/bin/chromium, installed by .ci/run; Playwright never downloads a
browser of its own here). The site is built as `make site` builds it and served by a real HTTP server on the
loopback; every page must load with no console error, no failed request and no request leaving the machine,
its math must be typeset and its images decoded, and every internal link must resolve. JupyterLab is started
by `make lab` itself (a copy of notebook 00, a port and a token of its own), opens the notebook with no
pop-up, runs all cells from the Run menu and must show no error output. Screenshots go to build/screenshots/
for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dlcourse import course
from dlcourse.tools import site

pytestmark = pytest.mark.slow  # a site build, a few hundred page loads and one notebook run

ROOT = course.root()
SCREENSHOTS = ROOT / "build" / "screenshots"
LAB_NOTEBOOK = "00_welcome_and_setup"  # the shortest notebook at the default profile (about 30 s)


def chromium_path() -> str:
    for candidate in ("chromium", "chromium-browser"):
        if found := shutil.which(candidate):
            return found
    raise FileNotFoundError("the browser tests need Debian's Chromium: sudo apt-get install chromium "
                            "(.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with code {process.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server and everything it started (it runs in its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def site_html(tmp_path_factory) -> Path:
    return site.build(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def site_url(site_html):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(site_html)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/index.html", 30, server)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    args = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox (containers, CI boxes)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=args)
        try:
            yield chromium
        finally:
            chromium.close()


class Problems:
    """What a page reported while it loaded: console errors, failed or outside requests, HTTP errors."""

    def __init__(self, page, base: str):
        self.found: list[str] = []
        host = urlsplit(base).netloc

        def route(r):
            if urlsplit(r.request.url).netloc not in (host, "") and not r.request.url.startswith("data:"):
                self.found.append(f"request leaving the machine: {r.request.url}")
                return r.abort()
            return r.continue_()

        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and self.found.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.found.append(f"page error: {e}"))
        # net::ERR_ABORTED is a request the browser cancelled itself (the next page load cut off a favicon)
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
                and self.found.append(f"failed request: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.found.append(f"HTTP {r.status}: {r.url}"))


def site_pages(html: Path) -> list[str]:
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html") if "_static" not in p.parts)


def test_every_site_page_loads_with_its_math_and_images_and_no_console_error(site_html, site_url, browser):
    page = browser.new_page()
    problems = Problems(page, site_url)
    pages = site_pages(site_html)
    assert len(pages) >= len(course.notebooks()) + 4, pages
    math_pages = 0
    for path in pages:
        before = len(problems.found)
        page.goto(site_url + path, wait_until="load")
        if page.locator(".math").count():
            math_pages += 1
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
            page.evaluate("() => MathJax.startup.promise")
            untyped = page.evaluate("() => Array.from(document.querySelectorAll('.math'))"
                                    ".filter(e => !e.querySelector('mjx-container')).length")
            assert untyped == 0, f"{path}: {untyped} formulas were not typeset by MathJax"
        broken = page.evaluate("() => Array.from(document.images)"
                               ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        assert broken == [], f"{path}: images that did not load: {broken}"
        problems.found[before:] = [f"{path}: {p}" for p in problems.found[before:]]
    assert problems.found == [], "\n".join(problems.found[:20])
    assert math_pages >= 5, f"only {math_pages} pages have math; the theory notebooks should"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("a", "link") and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.hrefs.append(attrs["src"])


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_every_internal_link_of_the_site_resolves(site_html):
    parsed = {site_html / p: parse(site_html / p) for p in site_pages(site_html)}
    broken, checked = [], 0
    for page, links in parsed.items():
        for href in links.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            checked += 1
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site_html)}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site_html)}: {href} (no id {parts.fragment!r})")
    assert checked > 1000, f"only {checked} internal links checked"
    assert broken == [], "\n".join(broken[:30])


def test_the_site_has_each_notebook_search_navigation_and_the_reference_pages(site_html, site_url, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site_url + "index.html")
    for nb in course.notebooks():
        assert page.locator(f"article a[href='notebooks/{nb.id}.html']").count() >= 1, f"home page: no link to {nb.id}"
    page.screenshot(path=str(SCREENSHOTS / "site-home.png"))

    page.goto(site_url + "notebooks/13_capstone_fraud_detection.html")
    assert page.locator("a.left-prev").get_attribute("href").endswith("12_scaling_out.html")
    assert page.locator("a.right-next").get_attribute("href").endswith("14_lightweight_explainable_private.html")
    modules = [m for m in course.find("13").modules]
    for m in modules:
        assert page.locator(f"a[href='../modules/{m}.html']").count() >= 1, f"13's page does not link dlcourse.{m}"
    assert page.locator("a.download[href$='13_capstone_fraud_detection.ipynb']").count() == 1
    page.locator("strong", has_text="Key terms").first.scroll_into_view_if_needed()
    page.mouse.wheel(0, -250)
    page.screenshot(path=str(SCREENSHOTS / "site-notebook-13.png"))
    page.goto(site_url + "notebooks/05_cnn_theory.html#pooling")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
    page.evaluate("() => MathJax.startup.promise")
    page.screenshot(path=str(SCREENSHOTS / "site-notebook-05-pooling.png"))

    page.goto(site_url + "glossary.html")
    assert page.locator("dl.glossary dt").count() >= 200, "the glossary should list ≥ 100 terms in two languages"
    # Without a Chinese font every character is the same empty box: draw two in the page's font and compare.
    same = page.evaluate("""() => {
        const font = getComputedStyle(document.querySelector('dl.glossary dt')).font;
        const pixels = ch => { const c = document.createElement('canvas'); c.width = c.height = 40;
            const g = c.getContext('2d'); g.font = font; g.fillText(ch, 2, 30);
            return Array.from(g.getImageData(0, 0, 40, 40).data).join(); };
        return pixels('卷') === pixels('积'); }""")
    assert not same, "Chinese characters render as identical boxes: install a Chinese font (fonts-wqy-microhei)"
    page.screenshot(path=str(SCREENSHOTS / "site-glossary.png"))
    page.goto(site_url + "faq.html")
    page.screenshot(path=str(SCREENSHOTS / "site-faq.png"))

    page.goto(site_url + "search.html?q=convolution")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    results = page.locator("#search-results ul.search li a").all_inner_texts()
    assert any("Convolution from scratch" in r for r in results), results


# -- JupyterLab ---------------------------------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path, notebook):
    """JupyterLab started by `make lab` on a copy of `notebook`, with its own port and token."""
    (tmp_path / "lab").mkdir()
    shutil.copy(course.find(notebook).path, tmp_path / "lab")
    port, token = free_port(), "dlcourse-browser-test"
    flags = (f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} "
             "--ServerApp.port_retries=0")
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ROOT={tmp_path / 'lab'}",
                               f"LAB_FLAGS={flags}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/status?token={token}", 120, server)
        yield f"http://127.0.0.1:{port}", token, tmp_path / "lab"
    finally:
        stop(server)
        log.close()


# The notebook's id in the test id puts this test in that notebook's unit of work (conftest.work_unit): it never
# runs beside another run of the same notebook.
@pytest.mark.parametrize("notebook", [LAB_NOTEBOOK])
def test_jupyterlab_from_make_lab_runs_a_notebook_with_no_error_output_and_no_pop_up(lab, browser, notebook):
    base, token, folder = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = Problems(page, base + "/")
    page.goto(f"{base}/lab/tree/{notebook}.ipynb?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.wait_for_timeout(2_000)  # a first-run pop-up would be up by now
    toasts = page.locator(".Toastify__toast, .jp-Dialog").all_inner_texts()
    assert toasts == [], f"JupyterLab showed a pop-up on opening: {toasts}"

    def menu(top: str, item: str) -> None:
        page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{top}$")).click()
        page.locator(".lm-Menu-item", has_text=item).first.click()

    page.wait_for_timeout(1_000)  # the menu bar answers clicks once the notebook has settled
    menu("Edit", "Clear Outputs of All Cells")  # so that the saved file can only hold this run's results
    assert page.locator(".jp-CodeCell .jp-OutputArea-output").count() == 0
    menu("Run", "Run All Cells")
    page.wait_for_selector(".jp-InputArea-prompt:has-text('[*]')", timeout=30_000)  # Run All has started
    deadline, quiet = time.monotonic() + 240, 0
    while quiet < 3:  # no cell waiting or running, three polls in a row
        if time.monotonic() > deadline:
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab-run-all.png"))
            pytest.fail("Run All did not finish in 240 s")
        running = page.locator(".jp-InputArea-prompt:has-text('[*]')").count()
        quiet = quiet + 1 if running == 0 else 0
        page.wait_for_timeout(1_000)
    page.screenshot(path=str(SCREENSHOTS / "jupyterlab-run-all.png"))
    page.keyboard.press("Control+s")  # into the test's copy: the saved file says what ran
    path = folder / f"{notebook}.ipynb"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # caught mid-write
            continue
        code = [c for c in saved["cells"] if c["cell_type"] == "code"]
        if all(c.get("execution_count") for c in code):
            break
        page.wait_for_timeout(1_000)
    not_run = [i for i, c in enumerate(saved["cells"]) if c["cell_type"] == "code" and not c.get("execution_count")]
    assert not_run == [], f"cells {not_run} did not run (or the notebook was not saved)"
    failed = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code) for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert failed == [], f"errors after Run All: {failed[:3]}"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, f"error output after Run All: {errors.all_inner_texts()[:3]}"
    assert page.locator(".jp-OutputArea-output").count() >= len(code) // 2, "Run All showed (almost) no output"
    assert problems.found == [], "\n".join(problems.found[:20])
