"""Every approver channel drives a Review incident to completion on the embedded stack (`warden up`'s
launcher, the console as its own process): the web console, the CLI, a Teams invoke and a Slack
action each approve a rollback that the executor then carries out and verifies.

A rollback is tier 2 (issue 14): it needs a lead, and in production two different ones (M-of-N).
So on each channel bob (a lead) approves first and, where the request asks for a second approver,
dave (the other lead) approves through the same channel."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from warden_audit.reader import read_records
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.operations import approval_requests, inject_fault
from warden_cli.timeline import incidents_from
from warden_testkit.chat import (
    SLACK_SECRET,
    TEAMS_APP_ID,
    ChatDoubles,
    card_invoke,
    chat_settings,
    slack_request,
)
from warden_testkit.console import Browser, wait_for, write_test_users

pytestmark = pytest.mark.e2e

# channel -> the service whose bad deployment it approves the rollback of (all Review: error-rate plan).
CHANNELS = {"console": "payments-api", "cli": "web-frontend", "teams": "orders-worker", "slack": "checkout-api"}
TIMEOUT = 120.0


LEADS = ("bob", "dave")
Decide = Callable[[EmbeddedStack, str, ChatDoubles, str], Awaitable[None]]


def _console_env(doubles: ChatDoubles) -> dict[str, str]:
    settings = chat_settings(doubles)
    settings["teams_users"] = {**settings["teams_users"], **{f"aad-{who}": who for who in LEADS}}
    settings["slack_users"] = {**settings["slack_users"], **{f"U_{who.upper()}": who for who in LEADS}}
    return {f"WARDEN_{k.upper()}": json.dumps(v) if isinstance(v, dict) else str(v) for k, v in settings.items()}


async def _wait(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if found := check():
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"no {what} within {TIMEOUT:.0f}s")


def _pending_for(layout: Layout, service: str) -> dict[str, Any] | None:
    for entry in approval_requests(layout).values():
        if entry["state"] == "pending" and entry["request"]["action"]["target"] == service:
            return dict(entry["request"])
    return None


def _fixed(layout: Layout, service: str) -> bool:
    views = [v for v in incidents_from(read_records(layout.audit_dir)).values() if v.service == service]
    return any(
        v.state == "resolved" and any(r["kind"] == "rollback_deployment" for r in v.reports("verified")) for v in views
    )


async def _console_knows(stack: EmbeddedStack, approval_id: str) -> None:
    """The test finds the request in the audit log; the console reads it from its own durable, maybe a little later."""
    viewer = Browser(stack.console_url)
    try:
        await viewer.sign_in("alice")

        async def listed() -> bool:
            return approval_id in (await viewer.get("/api/approvals"))[1]

        await wait_for(listed, timeout=TIMEOUT)
    finally:
        await viewer.close()


async def _via_console(stack: EmbeddedStack, approval_id: str, _: ChatDoubles, who: str) -> None:
    person = Browser(stack.console_url)
    try:
        await person.sign_in(who)
        status, page = await person.post(f"/approvals/{approval_id}/decision", {"decision": "approve", "reason": "e2e"})
        assert status == 200 and f"approve sent as {who}" in page, page
    finally:
        await person.close()


def _warden(stack: EmbeddedStack, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "warden_cli", *args, "--data-dir", str(stack.layout.root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


async def _via_cli(stack: EmbeddedStack, approval_id: str, _: ChatDoubles, who: str) -> None:
    listed = await asyncio.to_thread(_warden, stack, "approvals", "list", "--pending", "--json")
    assert approval_id in [row["approval_id"] for row in json.loads(listed.stdout)], listed.stderr
    shown = await asyncio.to_thread(_warden, stack, "approvals", "show", approval_id[:8])
    assert shown.returncode == 0 and "rollback_deployment" in shown.stdout and "rollback:" in shown.stdout, shown
    # The approver's own credential: the test directory (write_test_users) fixes the password.
    password_file = stack.layout.root / f"{who}-password.txt"
    password_file.write_text(f"{who}-password\n")
    passwords = str(password_file)
    done = await asyncio.to_thread(
        _warden, stack, "approvals", "approve", approval_id, "--as", who, "--password-file", passwords
    )
    assert done.returncode == 0, done.stderr


async def _via_teams(stack: EmbeddedStack, approval_id: str, doubles: ChatDoubles, who: str) -> None:
    activity = card_invoke(doubles.service_url, approval_id, "approve", f"aad-{who}", reason="e2e")
    token = doubles.bot_token(TEAMS_APP_ID, doubles.service_url)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack.console_url}/api/teams/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        answer = await resp.json()
    assert answer["statusCode"] == 200, answer


async def _via_slack(stack: EmbeddedStack, approval_id: str, _: ChatDoubles, who: str) -> None:
    body, headers = slack_request(SLACK_SECRET, approval_id, "approve", f"U_{who.upper()}")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{stack.console_url}/api/slack/actions", data=body, headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()


DECIDE: dict[str, Decide] = {
    "console": _via_console,
    "cli": _via_cli,
    "teams": _via_teams,
    "slack": _via_slack,
}


async def test_each_channel_approves_a_review_incident_to_completion(tmp_path: Path) -> None:
    doubles = await ChatDoubles().start()
    layout = Layout(tmp_path / "stack")
    write_test_users(layout.keys / "console-users.yaml")
    stack = EmbeddedStack(layout, StackOptions(tick_s=0.5, extra_env={"console": _console_env(doubles)}))
    await stack.start()
    try:
        for service in CHANNELS.values():
            await inject_fault(layout, service, "bad_deploy", version="v9.9.9")
        needed: dict[str, int] = {}
        for channel, service in CHANNELS.items():
            request = await _wait(f"approval request for {service}", lambda s=service: _pending_for(layout, s))
            await _console_knows(stack, request["approval_id"])
            leads = LEADS[: max(1, int(request.get("approvals_required") or 1))]
            for who in leads:
                await DECIDE[channel](stack, request["approval_id"], doubles, who)
            needed[channel] = len(leads)
        for channel, service in CHANNELS.items():
            await _wait(f"verified rollback of {service} approved via {channel}", lambda s=service: _fixed(layout, s))
        decisions = [
            r["envelope"]["data"] for r in read_records(layout.audit_dir) if r["type"] == "sre.approval.decided.v1"
        ]
        by_channel = {c: sum(d["channel"] == c for d in decisions) for c in CHANNELS}
        assert by_channel == needed, (by_channel, needed)
        assert needed["console"] == 2  # payments-api is prod: two different leads released its rollback
        assert any(p["conversation"] == "19:ops@thread.tacv2" for p in doubles.posted)  # Teams card was posted
        assert any(m == "chat.postMessage" for m, _ in doubles.slack_calls)  # and the Slack message
    finally:
        await stack.stop()
        await doubles.stop()
