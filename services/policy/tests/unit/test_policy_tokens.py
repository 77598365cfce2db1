"""Human decisions: every way a token or approver can be wrong is rejected with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.envelope import Envelope
from warden_contracts.events import (
    ApprovalDecision,
    ApprovalRequested,
    DecisionOutcome,
    PolicyDecided,
    SignedAction,
)
from warden_policy.domain.approvals import ApprovalState
from warden_security.action_signing import verify_action
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer


def decided(out: list[Envelope]) -> PolicyDecided:
    return next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")


@pytest.fixture
async def pending(world, make_plan) -> ApprovalRequested:
    return await world.request(
        make_plan(
            incident_class="elevated_error_rate",
            kind="rollback_deployment",
            params={"to_version": "v1.2"},
            requested_by="alice",
        )
    )


async def test_policy_valid_approval_signs_exactly_the_approved_action(
    world, pending, issue_token, make_decision
) -> None:
    token = issue_token("bob", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    out = await world.desk.decide(make_decision(pending.approval_id, token))
    assert decided(out).outcome is DecisionOutcome.APPROVED and decided(out).approvers == ["bob"]
    assert [e.type for e in out] == [
        "sre.policy.decided.v1",
        "sre.elevation.ticketed.v1",
        "sre.action.approved.v1",
        "sre.action.pending.v1",
    ]
    signed = out[2].payload(SignedAction)
    assert signed.params == {"to_version": "v1.2"} and signed.approvers == ["bob"] and signed.tier == 2
    trusted = {signed.key_id: world.signing_key.public_key()}
    assert verify_action(signed, trusted, now=world.now) == []
    stored = await world.store.get_approval(pending.approval_id)
    assert stored.state is ApprovalState.APPROVED and stored.decided_by == "bob" and stored.version == 2


async def test_policy_deny_closes_the_approval(world, pending, issue_token, make_decision) -> None:
    # A rollback is tier 2: a lead decides it, on-call may not.
    token = issue_token("dave", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    out = await world.desk.decide(make_decision(pending.approval_id, token, ApprovalDecision.DENY, reason="risky"))
    assert decided(out).outcome is DecisionOutcome.DENIED
    assert [e.type for e in out] == ["sre.policy.decided.v1"]
    assert (await world.store.get_approval(pending.approval_id)).state is ApprovalState.DENIED
    assert await world.store.live_slot("checkout", world.now) is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "identity token rejected: token signature does not verify"),
        ("expired", "identity token rejected: token expired"),
        ("audience", "identity token rejected: token audience is not this service"),
        ("carol", "not authorised: no policy lets carol decide tier 2 in dev"),
        ("carol-claims-leads", "not authorised: no policy lets carol decide tier 2 in dev"),
        ("self", "self-approval: alice is in the proposal chain"),
        ("hash", "action_hash mismatch"),
        ("other-approval", "token is bound to a different approval"),
        ("missing-groups", "identity token rejected: invalid token"),
    ],
)
async def test_policy_bad_decisions_are_rejected_with_their_reason(
    world, pending, issue_token, make_decision, approver_key, case: str, reason: str
) -> None:
    binding = {"approval_id": pending.approval_id, "action_hash": pending.action_hash}
    tokens = {
        "forged": lambda: issue_token("bob", groups=["sre-leads"], key=Ed25519PrivateKey.generate(), **binding),
        "expired": lambda: issue_token("bob", groups=["sre-leads"], ttl_s=-60, **binding),
        "audience": lambda: issue_token("bob", groups=["sre-leads"], audience="urn:warden:sandbox", **binding),
        "carol": lambda: issue_token("carol", groups=["viewers"], **binding),
        "carol-claims-leads": lambda: issue_token("carol", groups=["sre-leads"], **binding),
        "self": lambda: issue_token("alice", groups=["sre-oncall"], **binding),
        "hash": lambda: issue_token("bob", groups=["sre-leads"], approval_id=pending.approval_id, action_hash="0" * 64),
        "other-approval": lambda: issue_token(
            "bob", groups=["sre-leads"], approval_id="apr-other", action_hash=pending.action_hash
        ),
        "missing-groups": lambda: TokenIssuer(approver_key, LOCAL_APPROVER_ISSUER).issue(
            "bob", APPROVAL_AUDIENCE, 300, **binding
        ),
    }
    out = await world.desk.decide(make_decision(pending.approval_id, tokens[case]()))
    verdict = decided(out)
    assert verdict.outcome is DecisionOutcome.REJECTED_APPROVAL
    assert verdict.reasons[0].startswith(reason), verdict.reasons
    assert [e.type for e in out] == ["sre.policy.decided.v1"]
    stored = await world.store.get_approval(pending.approval_id)
    assert stored.state is ApprovalState.PENDING and stored.version == 1


async def test_policy_replayed_token_is_rejected(world, pending, issue_token, make_decision) -> None:
    token = issue_token("bob", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    first = await world.desk.decide(make_decision(pending.approval_id, token))
    replay = await world.desk.decide(make_decision(pending.approval_id, token))
    assert decided(first).outcome is DecisionOutcome.APPROVED
    assert decided(replay).outcome is DecisionOutcome.REJECTED_APPROVAL
    assert decided(replay).reasons[0] == "token replayed: jti already used"


async def test_policy_redelivered_decision_is_processed_once(world, pending, issue_token, make_decision) -> None:
    token = issue_token("bob", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    message = make_decision(pending.approval_id, token)
    first = await world.desk.decide(message)
    again = await world.desk.decide(message)
    assert [e.id for e in again] == [e.id for e in first]
    assert decided(again).outcome is DecisionOutcome.APPROVED


async def test_policy_late_decision_after_expiry_is_rejected(world, pending, issue_token, make_decision) -> None:
    world.now = pending.expires_at + timedelta(seconds=1)
    token = issue_token("bob", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    before_timer = await world.desk.decide(make_decision(pending.approval_id, token))
    assert decided(before_timer).reasons[0] == "approval expired"
    expired = await world.desk.expire_due()
    assert [e.type for e in expired] == ["sre.policy.decided.v1", "sre.escalation.raised.v1"]
    fresh = issue_token("bob", approval_id=pending.approval_id, action_hash=pending.action_hash, groups=["sre-leads"])
    after_timer = await world.desk.decide(make_decision(pending.approval_id, fresh))
    assert decided(after_timer).outcome is DecisionOutcome.REJECTED_APPROVAL
    assert decided(after_timer).reasons[0] == "approval expired"
    assert (await world.store.get_approval(pending.approval_id)).state is ApprovalState.EXPIRED
