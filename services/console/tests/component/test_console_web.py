"""The console on a real embedded NATS server: sign-in, live list, decisions, roles, CSRF, controls."""

from __future__ import annotations

from datetime import timedelta

from warden_contracts.envelope import envelope_for
from warden_contracts.events import DecisionOutcome, PolicyDecided
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.console import append_audit_records, approval_request, wait_for


async def _listed(b, approval_id: str) -> bool:
    status, body = await b.get("/api/approvals")
    return status == 200 and approval_id in body


async def test_approver_signs_in_sees_request_live_and_approves_with_a_signed_token(
    broker: EmbeddedBroker, console, browser_for
) -> None:
    alice = browser_for()
    status, page = await alice.sign_in("alice")
    assert status == 200 and "Pending approvals" in page and "alice" in page
    request = approval_request("appr-live", "inc-live")
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    await wait_for(lambda: _listed(alice, "appr-live"))

    status, page = await alice.get("/incidents/inc-live")
    assert status == 200
    for shown in ("rollback_deployment", "payments-api in prod", "redeploy v3.2.0", "v3.1.0", "Approve"):
        assert shown in page
    assert "identity_token" not in page and "BEGIN" not in page  # nothing secret on the page

    status, page = await alice.post("/approvals/appr-live/decision", {"decision": "approve", "reason": "looks right"})
    assert status == 200 and "approve sent as alice" in page
    decided = await broker.read_all("sre.approval.decided.v1")
    assert len(decided) == 1
    data = decided[0].data
    assert decided[0].correlationid == "inc-live" and data["channel"] == "console" and data["reason"] == "looks right"
    claims = console.verifier.verify(data["identity_token"], require=("approval_id", "action_hash", "groups"))
    assert claims["sub"] == "alice" and claims["approval_id"] == "appr-live"
    assert claims["action_hash"] == "hash-appr-live" and claims["groups"] == ["sre-oncall"]
    assert claims["amr"] == ["password"]
    status, metrics = await alice.get("/metrics")
    assert 'warden_decisions_sent_total{channel="console",service="console"} 1.0' in metrics


async def test_policy_outcome_moves_the_request_to_history(broker: EmbeddedBroker, console, browser_for) -> None:
    request = approval_request("appr-done", "inc-done")
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    bob = browser_for()
    await bob.sign_in("bob")
    await wait_for(lambda: _listed(bob, "appr-done"))
    decided = envelope_for(
        "sre.policy.decided.v1",
        PolicyDecided(
            incident_id="inc-done", action_id="act-appr-done", kind="rollback_deployment", target="payments-api",
            tier=1, run_mode="review", outcome=DecisionOutcome.APPROVED, approval_id="appr-done", approvers=["alice"],
            reasons=["approval: approved by alice via console"],
        ),
        source="warden/policy", correlationid="inc-done",
    )
    append_audit_records(console.data_dir / "audit", [request, decided])
    await wait_for(lambda: _gone(bob, "appr-done"))
    status, page = await bob.get("/history")
    assert status == 200 and "approved" in page and "alice" in page and "inc-done" in page
    status, page = await bob.get("/incidents/inc-done")
    assert "approved by alice" in page and "#2" in page  # the audit timeline with sequence numbers
    status, page = await bob.post("/approvals/appr-done/decision", {"decision": "deny"})
    assert status == 403 and "already approved" in page


async def _gone(b, approval_id: str) -> bool:
    return not await _listed(b, approval_id)


async def test_viewer_cannot_approve(broker: EmbeddedBroker, console, browser_for) -> None:
    request = approval_request("appr-view", "inc-view")
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    carol = browser_for()
    await carol.sign_in("carol")
    await wait_for(lambda: _listed(carol, "appr-view"))
    status, page = await carol.get("/incidents/inc-view")
    assert status == 200 and "Approve" not in page and "not decide" in page
    status, page = await carol.post("/approvals/appr-view/decision", {"decision": "approve"})
    assert status == 403 and "viewer" in page
    assert await broker.read_all("sre.approval.decided.v1") == []


async def test_expired_request_cannot_be_approved(broker: EmbeddedBroker, console, browser_for) -> None:
    request = approval_request("appr-old", "inc-old", expires_in=timedelta(seconds=-1))
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    alice = browser_for()
    await alice.sign_in("alice")
    await wait_for(lambda: _known(console, "appr-old"))
    status, page = await alice.post("/approvals/appr-old/decision", {"decision": "approve"})
    assert status == 403 and "expired" in page
    assert await broker.read_all("sre.approval.decided.v1") == []


async def _known(console, approval_id: str) -> bool:
    from warden_console.web.pages import DESK_KEY

    return await console.runtime.web_app[DESK_KEY].approval(approval_id) is not None


async def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(
    broker: EmbeddedBroker, console, browser_for
) -> None:
    request = approval_request("appr-csrf", "inc-csrf")
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    alice = browser_for()
    await alice.sign_in("alice")
    await wait_for(lambda: _listed(alice, "appr-csrf"))
    status, _ = await alice.post("/approvals/appr-csrf/decision", {"decision": "approve"}, csrf="forged")
    assert status == 403
    status, _ = await alice.post("/approvals/appr-csrf/decision", {"decision": "approve"}, csrf="fälschung")
    assert status == 403  # a non-ASCII token is refused, not a server error
    async with alice.http.post(
        console.url + "/approvals/appr-csrf/decision",
        data={"csrf": alice.csrf, "decision": "approve"},
        headers={"Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 403
    assert await broker.read_all("sre.approval.decided.v1") == []


async def test_wrong_password_and_cookie_flags(console, browser_for) -> None:
    mallory = browser_for()
    status, page = await mallory.sign_in("alice", "guess")
    assert status == 401 and "wrong password" in page
    status, _ = await mallory.get("/api/approvals")
    assert status == 401
    async with mallory.http.get(console.url + "/login") as resp:
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    alice = browser_for()
    await alice.get("/login")
    async with alice.http.post(
        console.url + "/login",
        data={"csrf": alice.csrf, "username": "alice", "password": "alice-password"},
        headers={"Origin": console.url},
        allow_redirects=False,
    ) as resp:
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    status, _ = await alice.get("/approvals")
    assert status == 200


async def test_only_administrators_flip_the_kill_switch(broker: EmbeddedBroker, console, browser_for) -> None:
    alice = browser_for()
    await alice.sign_in("alice")
    status, _ = await alice.post("/admin/controls", {"kind": "kill_switch", "value": "on"})
    assert status == 403
    bob = browser_for()
    await bob.sign_in("bob")
    status, page = await bob.get("/admin")
    assert status == 200 and "kill switch" in page
    status, page = await bob.post("/admin/controls", {"kind": "kill_switch", "value": "on", "reason": "drill"})
    assert status == 200 and "kill_switch on" in page
    changes = await broker.read_all("sre.control.changed.v1")
    assert [(c.data["kind"], c.data["value"], c.data["changed_by"]) for c in changes] == [("kill_switch", "on", "bob")]


async def test_a_malformed_request_does_not_stop_the_next_one(broker: EmbeddedBroker, console, browser_for) -> None:
    await broker.publish_raw("sre.approval.requested.v1", b'{"not": "an envelope"}', "garbage-1", identity="policy")
    request = approval_request("appr-after", "inc-after")
    await broker.publish_raw("sre.approval.requested.v1", request.to_bytes(), request.id, identity="policy")
    bob = browser_for()
    await bob.sign_in("bob")
    await wait_for(lambda: _listed(bob, "appr-after"))
    status, _ = await bob.get("/healthz")
    assert status == 200
