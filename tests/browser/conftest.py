"""Browser tests: Playwright for Python driving Debian's /usr/bin/chromium (never `playwright install`).

Fixtures:
    browser  one headless Chromium for the session
    page     a fresh context per test (zh-CN, 1280x900, 10 s timeouts, base_url = the live server);
             a failing test leaves a screenshot in var/test-artifacts/<test name>.png
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
DEFAULT_TIMEOUT_MS = 10_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _screenshot_name(item: pytest.Item) -> str:
    return re.sub(r"[^\w.-]+", "_", item.name).strip("_")[:150] or "test"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A failing test that used `page`: screenshot it while the page is still open (before teardown)
    # and name the file in the failure report.
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        path = ARTIFACTS_DIR / f"{_screenshot_name(item)}.png"
        try:
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("browser screenshot", f"saved to {path} (url: {page.url})"))
        except Exception as exc:  # the page or browser may be gone already
            report.sections.append(("browser screenshot", f"could not save {path}: {exc}"))
    return report


def _wait_for_request_threads(timeout: float = 10.0) -> None:
    """Let the live server's request threads notice that Chromium closed its connections and finish —
    each closes its database connections on the way out — before the live server stops and gives the
    shared in-memory SQLite connection back (a thread finishing after that fails at the end of the run)."""
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__name__", "") == "process_request_thread":
            thread.join(timeout)


@pytest.fixture(scope="session")
def browser(live_server: Any) -> Iterator[Browser]:
    # Depending on live_server makes pytest close the browser *before* it stops the live server: otherwise
    # Chromium's keep-alive connections are closed after the server gave back the shared in-memory SQLite
    # connection, and each request thread fails ("DatabaseWrapper objects created in a thread …").
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install Debian's chromium (`make system-deps`)"
        if _in_ci():
            pytest.fail(message + " — browser tests must run in CI", pytrace=False)
        pytest.skip(message)

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread while it is alive, and Django
    # refuses ORM calls from a thread with a running loop ("You cannot call this from an async
    # context"). The documented workaround for Playwright + Django tests; restored afterwards.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
            _wait_for_request_threads()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 1280, "height": 900},
        base_url=live_server.url,
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
