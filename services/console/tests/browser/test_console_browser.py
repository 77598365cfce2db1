"""The console in Debian's Chromium through Playwright: a person signs in, watches a request appear
live, approves it and sees the incident move on; a viewer cannot approve; an expired request cannot
be approved. The first test runs on the whole embedded stack (`warden up`'s launcher)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.operations import inject_fault
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.console import approval_request, start_console, wait_for, write_test_users

SignIn = Callable[[Page, str, str], Awaitable[None]]  # the browser conftest's `sign_in` fixture

IMAGES = Path(__file__).resolve().parents[4] / "docs" / "img"
SCREENSHOT = IMAGES / "console.png"
AFTER = IMAGES / "console-incident-after.png"  # issue 19; console-incident-before.png is the page before it
LONG = 90_000  # ms: the whole pipeline under a loaded 2-core machine


async def _server_says_expired(page: Page, base: str) -> bool:
    answer = await page.request.get(f"{base}/api/incidents/inc-expiring")
    return [a["state"] for a in (await answer.json())["approvals"]] == ["expired"]


@pytest.mark.e2e
async def test_approver_sees_request_live_approves_and_the_incident_moves_on(
    chromium: Browser, sign_in: SignIn, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "stack")
    write_test_users(layout.keys / "console-users.yaml")
    stack = EmbeddedStack(layout, StackOptions(tick_s=0.5))
    await stack.start()
    try:
        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, stack.console_url, "bob")
        await expect(page.locator("#empty")).to_be_visible()

        await inject_fault(layout, "payments-api", "bad_deploy", version="v3.2.0")
        row = page.locator("#pending tbody tr").first
        await expect(row).to_contain_text("rollback_deployment", timeout=LONG)  # arrives without a reload
        await expect(row.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))

        await row.get_by_role("link", name="rollback_deployment").click()
        await expect(page.get_by_text("Rollback plan")).to_be_visible()
        await expect(page.locator("#incident-status")).to_have_text("awaiting approval", timeout=LONG)
        await _incident_page_explains_itself(page)
        await page.get_by_label("Reason").fill("bad deploy, roll back")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)
        await page.screenshot(path=str(AFTER), full_page=True)

        # A rollback is tier 2: two leads in production (bob, then dave from his own browser).
        await page.get_by_role("button", name="Approve").click()
        await expect(page.locator(".notice")).to_contain_text("approve sent as bob")
        second = await chromium.new_page()
        await sign_in(second, stack.console_url, "dave")
        await second.goto(page.url)
        await second.get_by_label("Reason").fill("agreed")
        await second.get_by_role("button", name="Approve").click()
        await expect(second.locator(".notice")).to_contain_text("approve sent as dave")
        await expect(page.locator("[data-role=approval-state]")).to_have_text("approved", timeout=LONG)
        await expect(page.locator("#incident-status")).to_have_text(re.compile("verified|resolved"), timeout=LONG)
        await expect(page.locator("#timeline")).to_contain_text("rollback_deployment on payments-api: VERIFIED")
        await expect(page.locator("#timeline tr", has_text="approve via console").first).to_contain_text("bob")

        await page.reload()  # the decisive metric as the executor verified it
        after = page.locator("[data-role=metric-after]")
        await expect(after).to_have_text(re.compile(r"^\d"), timeout=LONG)
        assert float(await after.inner_text()) <= 0.02
        await page.goto(f"{stack.console_url}/history")
        row = page.locator("#history tbody tr").first
        await expect(row).to_contain_text("approved")
        await expect(row.locator("time")).to_have_text(LOCAL_TIME)
        await expect(row.locator(".reason")).not_to_be_empty()
    finally:
        await stack.stop()


LOCAL_TIME = re.compile(r"\d\d?:\d\d.*\((\d+ (s|min|h|d) ago|in \d+ (s|min|h|d))\)")


async def _incident_page_explains_itself(page: Page) -> None:
    """Issue 19: header, triggering alerts with a link to the monitor, local and relative times
    that keep moving, confidence, evidence rendered with the raw JSON folded, a timeline table."""
    head = page.locator("#incident-head")
    await expect(head.locator("[data-role=service]")).to_have_text("payments-api")
    await expect(head.locator("[data-role=environment]")).to_have_text("prod")
    await expect(head.locator("[data-role=severity]")).to_have_text(re.compile(r"^Sev\d$"))
    await expect(head.locator("[data-role=state]")).to_have_text("awaiting approval")

    alert = page.locator("#alerts tr[data-role=alert]").first
    await expect(alert).to_contain_text("High HTTP 5xx rate")
    await expect(alert).to_contain_text("azure_monitor")
    portal = alert.get_by_role("link", name="Azure portal")
    assert (await portal.get_attribute("href") or "").startswith("https://portal.azure.com/")

    opened = head.locator("time")
    await expect(opened).to_have_text(LOCAL_TIME)
    first = await page.locator("#timeline time").first.inner_text()
    await expect(page.locator("#timeline time").first).not_to_have_text(first, timeout=70_000)  # it keeps moving
    assert "T" not in await opened.inner_text()  # never the raw ISO string

    await expect(page.locator("[data-role=confidence]").first).to_have_text(re.compile(r"^\d+%$"))
    metric = page.locator("[data-role=decisive-metric]").first
    await expect(metric).to_contain_text("error_rate")
    await expect(metric.locator("[data-role=metric-after]")).to_have_text("not yet run")
    evidence = page.locator("[data-role=evidence]").first
    await expect(evidence.locator("dd.decisive")).to_be_visible()  # the decisive metric stands out
    raw = evidence.locator("details pre")
    await expect(raw).to_be_hidden()  # folded until asked for
    await evidence.locator("details summary").click()
    await expect(raw).to_be_visible()
    await evidence.locator("details summary").click()  # folded again for the screenshot
    await expect(page.locator("#timeline thead")).to_contain_text("Reason")
    await expect(page.locator("#timeline tr", has_text="AWAIT_APPROVAL").first.locator(".reason")).not_to_be_empty()


async def test_viewer_cannot_approve_and_expired_requests_cannot_be_approved(
    chromium: Browser, sign_in: SignIn, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    console = await start_console(broker, tmp_path / "data")
    try:
        viewer, approver = await chromium.new_page(), await chromium.new_page()
        await sign_in(viewer, console.url, "carol")
        await sign_in(approver, console.url, "alice")
        for request in (
            approval_request("appr-expiring", "inc-expiring", expires_in=timedelta(seconds=12)),
            approval_request("appr-viewer", "inc-viewer"),
        ):
            await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")

        # The approver opens the request while it is still pending ...
        await expect(approver.locator("#pending tbody tr")).to_have_count(2, timeout=30_000)
        await approver.goto(f"{console.url}/incidents/inc-expiring")
        await expect(approver.get_by_role("button", name="Approve")).to_be_visible()

        # ... meanwhile a viewer sees everything but has no button, and a forged POST is refused.
        await expect(viewer.locator("#pending tbody tr")).to_have_count(2, timeout=30_000)
        await viewer.goto(f"{console.url}/incidents/inc-viewer")
        await expect(viewer.locator("[data-role=read-only]")).to_be_visible()
        await expect(viewer.get_by_role("button", name="Approve")).to_have_count(0)
        forced = await viewer.request.post(
            f"{console.url}/approvals/appr-viewer/decision",
            form={"decision": "approve", "csrf": await viewer.locator("input[name=csrf]").first.input_value()},
            headers={"Origin": console.url},
        )
        assert forced.status == 403 and "viewer" in await forced.text()

        # ... and once the deadline passes, the approver's click is refused.
        await expect(approver.locator(".countdown")).to_have_text("expired", timeout=30_000)
        await wait_for(lambda: _server_says_expired(approver, console.url))
        await approver.get_by_role("button", name="Approve").click()
        await expect(approver.locator("#refusal")).to_contain_text("expired")
        assert await broker.read_all("sre.approval.decided.v1") == []
    finally:
        await console.runtime.stop()
