"""Debian's Chromium driven by Playwright (it cannot download browsers here), shared by the
console's browser tests, and the sign-in every one of them starts with."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
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

SignIn = Callable[[Page, str, str], Awaitable[None]]


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        # .ci/run installs Debian's chromium; a machine without it cannot run these tests at all.
        pytest.skip(f"Debian Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _sign_in(page: Page, base: str, user: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("User").fill(user)
    await page.get_by_label("Password").fill(f"{user}-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name=re.compile("Pending approvals"))).to_be_visible()


@pytest.fixture
def sign_in() -> SignIn:
    """`await sign_in(page, console_url, user)`: the test users' password is `<user>-password`."""
    return _sign_in
