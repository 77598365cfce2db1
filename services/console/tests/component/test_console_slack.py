"""Slack through slack_sdk's SignatureVerifier (v0 HMAC, 5-minute window) and the Web API double."""

from __future__ import annotations

import json
import time

import aiohttp
from warden_testkit.chat import SLACK_SECRET, slack_request
from warden_testkit.console import approval_request, wait_for
from warden_testkit.memory_bus import MemoryBroker

DECIDED = "sre.approval.decided.v1"


async def _request(memory_broker: MemoryBroker, chat_doubles, approval_id: str = "appr-s") -> None:
    env = approval_request(approval_id, f"inc-{approval_id}")
    await memory_broker.publish_raw("sre.approval.requested.v1", env.to_bytes(), env.id, identity="policy")
    await wait_for(lambda: _called(chat_doubles, "chat.postMessage"))


async def _called(chat_doubles, method: str) -> bool:
    return any(m == method for m, _ in chat_doubles.slack_calls)


async def _send(console, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(console.url + "/api/slack/actions", data=body, headers=headers) as resp,
    ):
        return resp.status


async def test_message_has_buttons_and_a_signed_press_publishes_the_decision(
    memory_broker: MemoryBroker, chat_console, chat_doubles
) -> None:
    await _request(memory_broker, chat_doubles)
    _, posted = chat_doubles.slack_calls[0]
    assert posted["channel"] == "C0OPS"
    blocks = posted["blocks"] if isinstance(posted["blocks"], list) else json.loads(posted["blocks"])
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["approve", "deny"]

    assert await _send(chat_console, *slack_request(SLACK_SECRET, "appr-s", "approve", "U_ALICE")) == 200
    decided = await memory_broker.read_all(DECIDED)
    assert len(decided) == 1 and decided[0].data["channel"] == "slack"
    claims = chat_console.verifier.verify(decided[0].data["identity_token"])
    assert claims["sub"] == "alice" and claims["amr"] == ["slack"] and claims["idp_sub"] == "U_ALICE"
    await wait_for(lambda: _called(chat_doubles, "chat.update"))
    update = next(body for m, body in chat_doubles.slack_calls if m == "chat.update")
    assert update["ts"] == "1700000000.000100" and "alice" in str(update["blocks"])


async def test_invalid_slack_requests_are_refused(memory_broker: MemoryBroker, chat_console, chat_doubles) -> None:
    await _request(memory_broker, chat_doubles)
    for case, secret, age_s in [
        ("expired (outside the 5-minute window)", SLACK_SECRET, 6 * 60),
        ("wrong signature (another app's secret)", "another-apps-secret", 0),
    ]:
        body, headers = slack_request(secret, "appr-s", "approve", "U_ALICE", timestamp=int(time.time()) - age_s)
        assert await _send(chat_console, body, headers) == 401, case
    tampered_body, headers = slack_request(SLACK_SECRET, "appr-s", "approve", "U_ALICE")
    assert await _send(chat_console, tampered_body.replace(b"approve", b"deny"), headers) == 401
    assert await _send(chat_console, tampered_body, {"Content-Type": headers["Content-Type"]}) == 401  # unsigned
    assert await memory_broker.read_all(DECIDED) == []


async def test_replayed_press_and_a_viewer_change_nothing(
    memory_broker: MemoryBroker, chat_console, chat_doubles
) -> None:
    await _request(memory_broker, chat_doubles)
    assert await _send(chat_console, *slack_request(SLACK_SECRET, "appr-s", "approve", "U_CAROL")) == 200
    assert await memory_broker.read_all(DECIDED) == []
    await wait_for(lambda: _called(chat_doubles, "chat.postEphemeral"))
    note = next(body for m, body in chat_doubles.slack_calls if m == "chat.postEphemeral")
    assert "viewer" in note["text"]

    body, headers = slack_request(SLACK_SECRET, "appr-s", "approve", "U_ALICE")
    assert await _send(chat_console, body, headers) == 200
    assert await _send(chat_console, body, headers) == 409
    assert len(await memory_broker.read_all(DECIDED)) == 1


def _signed(payload: object) -> tuple[bytes, dict[str, str]]:
    import hashlib
    import hmac
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_signed_but_malformed_payloads_are_bad_requests_not_server_errors(
    memory_broker: MemoryBroker, chat_console
) -> None:
    press = {"action_id": "approve", "value": "appr-s"}
    malformed = [
        ["a", "list"],
        {"type": "block_actions", "actions": ["approve"]},
        {"type": "block_actions", "user": "U_ALICE", "actions": [press]},
    ]
    for payload in malformed:
        assert await _send(chat_console, *_signed(payload)) == 400, payload
    assert await _send(chat_console, *_signed({"type": "block_actions", "actions": "approve"})) == 200  # ignored
    assert await memory_broker.read_all(DECIDED) == []
