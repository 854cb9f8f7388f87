"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) over the sandbox pages.

`countersign sandbox up` runs as a real process on free ports; each test opens its pages in a
fresh browser context. A failing test leaves a screenshot of every page it had open in
tests/browser/output/ (gitignored). In CI (CI=true) a missing Chromium fails the tests rather
than skipping them; `.ci/run` installs it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.harness import free_ports
from tests.e2e.test_sandbox_walkthrough import ROOT, SandboxProcess

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download is never used: the Debian package, with flags that keep it
# from reaching any network service of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).parent / "output"
SCREENSHOTS = ROOT / "docs" / "screenshots"
WRITE_SCREENSHOTS = os.environ.get("COUNTERSIGN_WRITE_SCREENSHOTS") == "1"
EXPECT_TIMEOUT_MS = 20_000  # two shared cores: the sandbox answers in time, only slowly


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {why}: the browser tests must run (.ci/run installs it)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    if not CHROMIUM.is_file():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, for the screenshot-on-failure fixture."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser context; every page opened in it is screenshotted if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened: list[Page] = []
    context.on("page", lambda page: opened.append(page))
    try:
        yield context
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            OUTPUT.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            for index, page in enumerate(opened):
                page.screenshot(path=str(OUTPUT / f"{name}-{index}.png"), full_page=True)
        context.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """`countersign sandbox up` on free ports, a temp database and a copy of the policies; the
    test fails unless the outbox and timers come to rest after it."""
    from tests.e2e.harness import assert_at_rest

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    box = SandboxProcess(tmp_path, free_ports(3), policies).start()
    try:
        yield box
        assert_at_rest(f"sqlite:///{box.db}")
    finally:
        box.stop()
