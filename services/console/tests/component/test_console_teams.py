"""Teams through the real validation path: Bot Connector tokens checked against OpenID metadata and
JWKS served locally (issuer, audience, signature, expiry, serviceUrl), the card posted and refreshed."""

from __future__ import annotations

import time

import aiohttp
from warden_testkit.chat import TEAMS_APP_ID, card_invoke, rsa_key
from warden_testkit.console import approval_request, wait_for
from warden_testkit.memory_bus import MemoryBroker

DECIDED = "sre.approval.decided.v1"


async def _request(memory_broker: MemoryBroker, chat_doubles, approval_id: str = "appr-t") -> None:
    env = approval_request(approval_id, f"inc-{approval_id}")
    await memory_broker.publish_raw("sre.approval.requested.v1", env.to_bytes(), env.id, identity="policy")
    await wait_for(lambda: _posted(chat_doubles, approval_id))


async def _posted(chat_doubles, approval_id: str) -> bool:
    return any(approval_id in str(p) for p in chat_doubles.posted)


async def _invoke(console, activity: dict, token: str) -> tuple[int, dict | str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            console.url + "/api/teams/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        return resp.status, (await resp.json() if resp.status == 200 else await resp.text())


async def test_card_is_posted_and_a_valid_invoke_publishes_the_decision_and_refreshes_the_card(
    memory_broker: MemoryBroker, chat_console, chat_doubles
) -> None:
    await _request(memory_broker, chat_doubles)
    posted = chat_doubles.posted[0]
    assert posted["conversation"] == "19:ops@thread.tacv2"
    card = posted["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive" and card["content"]["version"] == "1.5"
    assert [a["verb"] for a in card["content"]["actions"]] == ["approve", "deny"]

    activity = card_invoke(chat_doubles.service_url, "appr-t", "approve", "aad-alice", reason="from Teams")
    token = chat_doubles.bot_token(TEAMS_APP_ID, chat_doubles.service_url)
    status, answer = await _invoke(chat_console, activity, token)
    assert status == 200 and answer["statusCode"] == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert answer["value"]["body"][0]["text"] == "Approved by alice" and "actions" not in answer["value"]
    assert chat_doubles.updated and chat_doubles.updated[0]["activity"] == "activity-1"

    decided = await memory_broker.read_all(DECIDED)
    assert len(decided) == 1 and decided[0].data["channel"] == "teams" and decided[0].data["reason"] == "from Teams"
    claims = chat_console.verifier.verify(decided[0].data["identity_token"])
    assert claims["sub"] == "alice" and claims["amr"] == ["teams"] and claims["idp_sub"] == "aad-alice"


INVALID = [
    ("expired", {"exp": int(time.time()) - 600, "nbf": int(time.time()) - 4000}),
    ("wrong audience", {"aud": "someone-elses-bot"}),
    ("wrong issuer", {"iss": "https://evil.example"}),
    ("wrong signature", {"key": rsa_key()}),
    ("serviceUrl mismatch", {"serviceUrl": "https://smba.evil.example/"}),
]


async def test_invalid_bot_connector_tokens_are_refused(
    memory_broker: MemoryBroker, chat_console, chat_doubles
) -> None:
    await _request(memory_broker, chat_doubles)
    for case, changes in INVALID:
        activity = card_invoke(chat_doubles.service_url, "appr-t", "approve", "aad-alice")
        token = chat_doubles.bot_token(TEAMS_APP_ID, chat_doubles.service_url, **changes)
        status, body = await _invoke(chat_console, activity, token)
        assert status == 401, (case, body)
    status, _ = await _invoke(chat_console, activity, "not-a-jwt")
    assert status == 401
    assert await memory_broker.read_all(DECIDED) == []


async def test_replayed_invoke_and_unauthorised_people_change_nothing(
    memory_broker: MemoryBroker, chat_console, chat_doubles
) -> None:
    await _request(memory_broker, chat_doubles)
    token = chat_doubles.bot_token(TEAMS_APP_ID, chat_doubles.service_url)
    carol = card_invoke(chat_doubles.service_url, "appr-t", "approve", "aad-carol")
    status, answer = await _invoke(chat_console, carol, token)
    assert status == 200 and answer["statusCode"] == 403 and "viewer" in answer["value"]["message"]
    stale = card_invoke(chat_doubles.service_url, "appr-t", "approve", "aad-alice")
    stale["value"]["action"]["data"]["action_hash"] = "hash-of-another-action"
    status, answer = await _invoke(chat_console, stale, token)
    assert answer["statusCode"] == 409 and answer["value"]["code"] == "ActionChanged"
    stranger = card_invoke(chat_doubles.service_url, "appr-t", "approve", "aad-unknown")
    status, answer = await _invoke(chat_console, stranger, token)
    assert answer["statusCode"] == 403 and "not mapped" in answer["value"]["message"]

    alice = card_invoke(chat_doubles.service_url, "appr-t", "deny", "aad-alice")
    status, first = await _invoke(chat_console, alice, token)
    assert first["statusCode"] == 200 and first["value"]["body"][0]["text"] == "Denied by alice"
    status, again = await _invoke(chat_console, alice, token)
    assert again["statusCode"] == 409
    decided = await memory_broker.read_all(DECIDED)
    assert [d.data["decision"] for d in decided] == ["deny"]
