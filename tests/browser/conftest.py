"""Browser tests: Playwright for Python drives Debian's chromium against a live dashboard (`live_server`)
and the in-process Postmark sandbox.

Every page a test opens comes from `open_page`, which watches it: a console error (a Content-Security-Policy
violation is one), an uncaught script error, a failed request or an error answer fails the test when it
ends. `axe(page)` runs axe-core on the page as it is; each page a test
visits with JavaScript on must have been checked by it at least once, or the test fails.

Where they run: when chromium, Playwright and axe-core are all here. Otherwise the tests are skipped, and
the end of the run says why in one line; under REQUIRE_BROWSER=1 (`.ci/run` sets it) they fail instead.
"""

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from tests.conftest import audit_log_truncatable

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # said by what_is_missing(): the tests are skipped, or fail under REQUIRE_BROWSER=1
    sync_playwright = None

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# axe-core's impact levels that fail a page; "moderate" and "minor" findings are returned by axe(page), not failed.
BLOCKING_IMPACTS = ("serious", "critical")
# The paths of sections htmx fetches once their page is shown (hx-trigger="load").
LAZY_SECTIONS = ("/activity/", "/stream-activity/")
# How a purge countdown reads: "45 days left", "4 days, 23 hours left".
TIME_LEFT = re.compile(r"\d+ days?(, \d+ hours?)? left")


def what_is_missing() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    if not shutil.which(CHROMIUM):
        return f"chromium is not installed at {CHROMIUM} (install it with `apt-get install chromium`)"
    if sync_playwright is None:
        return "Playwright for Python is not installed (`make install` installs it)"
    if not AXE.exists():
        return "axe-core is not installed (`make test` runs `npm ci --prefix tests/browser`; it needs npm)"
    return ""


MISSING = what_is_missing()
_skipped = []


@pytest.fixture(scope="session", autouse=True)
def browser_can_run():
    if MISSING and REQUIRED:
        pytest.fail(f"REQUIRE_BROWSER=1 and the browser tests cannot run: {MISSING}", pytrace=False)
    if MISSING:
        _skipped.append(MISSING)
        pytest.skip(f"browser tests skipped: {MISSING}")


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(f"The browser tests did not run: {_skipped[0]}.")
        terminalreporter.write_line(
            "The rest of the suite is not affected. `.ci/run` installs chromium, and there a missing browser fails.")


@pytest.fixture(scope="module", autouse=True)
def orm_beside_playwright():
    """Playwright's synchronous API runs an event loop on this thread while a browser test module runs, and Django
    then refuses the ORM here, although nothing in these tests is asynchronous. Lifted for those modules only: the
    variable must not reach the rest of the suite (`check --deploy` rightly refuses it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


# Playwright, and the browser, live for one test module at a time (pytest-playwright keeps them for the whole
# session): its event loop must not outlive the browser tests, or the rest of the suite could not use the ORM.
@pytest.fixture(scope="module")
def playwright(orm_beside_playwright):
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser_type(playwright):
    return playwright.chromium


@pytest.fixture(scope="module")
def browser(browser_type, browser_type_launch_args):
    launched = browser_type.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_can_run):
    """Debian's chromium, headless: Playwright's own browser download is not reachable from these machines."""
    return {"executable_path": CHROMIUM, "headless": True, "args": LAUNCH_ARGS}


@pytest.fixture(scope="session")
def browser_context_args():
    return {"locale": "en-GB", "timezone_id": "UTC"}


@pytest.fixture(scope="module", autouse=True)
def audit_log_can_be_emptied_between_tests(browser_can_run, orm_beside_playwright, django_db_setup, django_db_blocker):
    """The live server needs committed data: see `audit_log_truncatable`."""
    with audit_log_truncatable(django_db_blocker):
        yield


@pytest.fixture(scope="session")
def live_server(request, collected_static):
    """pytest-django's live server, but serving static files as production does: WhiteNoise, from the
    collected, hashed files (its default handler looks in the source folders, where hashed names are not)."""
    server = LiveServer(os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost", start=False)
    server.thread.static_handler = lambda application: application
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def axe_source():
    return AXE.read_text(encoding="utf-8")


class Watch:
    """What went wrong on one page while a test used it, and which pages axe-core has checked."""

    def __init__(self, page, *, javascript: bool):
        self.page = page
        self.javascript = javascript
        self.problems = []
        self.visited = []
        self.checked = set()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error on {page.url}: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)
        page.on("framenavigated", self._navigated)

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _request_failed(self, request):
        # A picture or stylesheet still loading when the person leaves the page is dropped by the browser
        # (net::ERR_ABORTED); nothing failed. Any other request that fails, or any request that fails otherwise, counts.
        if request.failure == "net::ERR_ABORTED" and urlsplit(request.url).path.startswith("/static/"):
            return
        # So is a section htmx loads after the page (stream activity, sparklines) when the person moves on first.
        if request.failure == "net::ERR_ABORTED" and urlsplit(request.url).path.endswith(LAZY_SECTIONS):
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"error answer: {response.status} for {response.request.method} {response.url}")

    def _navigated(self, frame):
        if frame == self.page.main_frame and frame.url.startswith("http"):
            path = urlsplit(frame.url).path
            if path not in self.visited:
                self.visited.append(path)

    def unchecked(self):
        return [path for path in self.visited if path not in self.checked]


def toasts(page):
    """The messages (toasts) the page shows, in its live region."""
    return page.locator("#toasts [data-toast]")


@pytest.fixture
def streams_url(team_a, server_a):
    """The address of Acme Production's streams."""
    return f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_in_call = report.failed
    return report


@pytest.fixture
def watches():
    return []


@pytest.fixture
def open_page(request, new_context, live_server, watches):
    """open_page(user=None, javascript=True, viewport=DESKTOP) -> a Page on the live dashboard, signed in as
    `user` (through a session cookie, as after signing in) or anonymous. Its watch is `page.watch`."""

    def open_(user=None, *, javascript=True, viewport=None, **context_args):
        context = new_context(
            base_url=live_server.url, java_script_enabled=javascript, viewport=viewport or DESKTOP, **context_args)
        if user is not None:
            browser = Client()
            browser.force_login(user)
            context.add_cookies([{"name": "sessionid", "value": browser.cookies["sessionid"].value,
                                  "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.watch = Watch(page, javascript=javascript)
        watches.append(page.watch)
        return page

    yield open_
    problems = [problem for watch in watches for problem in watch.problems]
    assert not problems, "The browser saw problems:\n" + "\n".join(problems)
    if getattr(request.node, "failed_in_call", False):
        return  # the test's own failure says what went wrong; an unchecked page after it is only noise
    unchecked = [path for watch in watches if watch.javascript for path in watch.unchecked()]
    assert not unchecked, "Pages never checked by axe-core (call axe(page) on each): " + ", ".join(unchecked)


@pytest.fixture
def axe(axe_source):
    """axe(page) runs axe-core on the page as it is now and fails on any serious or critical violation."""

    def check(page):
        if not page.evaluate("() => typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol, so the page's CSP (no inline script) stays as it is.
            page.evaluate(axe_source)
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"
        )
        blocking = [violation for violation in found if violation["impact"] in BLOCKING_IMPACTS]
        page.watch.checked.add(urlsplit(page.url).path)
        assert not blocking, f"axe-core on {page.url}:\n" + json.dumps(blocking, indent=2)
        return found

    return check


@pytest.fixture
def sign_in_page(open_page, axe, password):
    """A fresh browser that signed in through the sign-in form, as a person does."""

    def sign_in(user, **page_args):
        page = open_page(**page_args)
        page.goto("/accounts/login/")
        if page.watch.javascript:
            axe(page)
        page.get_by_label("E-mail address").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    return sign_in
