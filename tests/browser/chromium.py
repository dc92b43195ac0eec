"""Debian's Chromium, driven by Playwright, and what a test reads from the example page.

Playwright cannot download a browser of its own here: it drives the system's `chromium`
(scripts/install-test-tools.sh installs it; `CHROMIUM` names another binary). Each step's
page is kept in memory as a screenshot and written to `test-artifacts/browser/<test>/`
only when a step fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
# Headless, and nothing that reaches out: without the background-networking flags the
# closed network refuses Chromium's own connections. As root Chromium needs --no-sandbox.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait of a step: the page's slowest step (an upload and its confirm) takes well
# under a second; a step that has not finished by then will not.
STEP_TIMEOUT_MS = 10_000


def chromium_binary() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found is None:
        raise FileNotFoundError(
            "chromium is not installed: `make test` installs it "
            "(scripts/install-test-tools.sh), or set CHROMIUM to a Chromium binary"
        )
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_binary(), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class Steps:
    """Screenshots of each step, written to disk only if a step fails."""

    def __init__(self, test_name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)
        self.taken: list[tuple[str, bytes]] = []

    @asynccontextmanager
    async def step(self, name: str, *pages: Page) -> AsyncIterator[None]:
        """One step of the journey; `pages` are photographed after it, or when it fails."""
        try:
            yield
        except BaseException:
            await self._take(f"{name}-FAILED", pages)
            self._save()
            raise
        await self._take(name, pages)

    async def _take(self, name: str, pages: tuple[Page, ...]) -> None:
        for number, page in enumerate(pages):
            suffix = f"-{number + 1}" if len(pages) > 1 else ""
            label = f"{len(self.taken) + 1:02d}-{name}{suffix}"
            try:
                self.taken.append((label, await page.screenshot(full_page=True)))
            except Exception as error:  # a closed or crashed page must not hide the failure
                self.taken.append((label, f"no screenshot: {error}".encode()))

    def _save(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        for label, image in self.taken:
            suffix = ".png" if image.startswith(b"\x89PNG") else ".txt"
            (self.folder / f"{label}{suffix}").write_bytes(image)


async def finished(page: Page, output_id: str) -> tuple[str, str, str]:
    """(status, code, text) of an output of the page once its step is over (ok or error)."""
    await page.wait_for_function(
        "id => ['ok', 'error'].includes(document.getElementById(id).dataset.status)",
        arg=output_id,
        timeout=STEP_TIMEOUT_MS,
    )
    output = page.locator(f"#{output_id}")
    status = await output.get_attribute("data-status")
    code = await output.get_attribute("data-code")
    return status or "", code or "", await output.inner_text()


async def succeeded(page: Page, output_id: str) -> str:
    """The text of an output whose step must have succeeded."""
    status, code, text = await finished(page, output_id)
    assert status == "ok", f"#{output_id}: {code} {text}"
    return text


async def failed(page: Page, output_id: str) -> tuple[str, str]:
    """(code, text) of an output whose step must have failed."""
    status, code, text = await finished(page, output_id)
    assert status == "error", f"#{output_id} succeeded: {text}"
    return code, text
