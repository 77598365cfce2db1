"""What policy signs for the executor to check itself: the environment, the M of M-of-N and each
verified approval (approver, SHA-256 of the identity token), kept across the store."""

from __future__ import annotations

import hashlib

from warden_contracts.envelope import Envelope
from warden_contracts.events import DecisionOutcome, PolicyDecided, SignedAction


def signed_in(out: list[Envelope]) -> SignedAction:
    return next(e.payload(SignedAction) for e in out if e.type == "sre.action.approved.v1")


async def test_an_m_of_n_approval_signs_every_approver_with_its_token_hash(
    world, make_plan, issue_token, make_decision
):
    request = await world.request(make_plan(environment="prod", kind="renew_certificate", target="payments-api"))

    def token(who: str) -> str:
        return issue_token(who, approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-leads"])

    bob, dave = token("bob"), token("dave")
    await world.desk.decide(make_decision(request.approval_id, bob))
    stored = await world.store.get_approval(request.approval_id)  # the first approval, through the store
    assert stored.approval_tokens == (hashlib.sha256(bob.encode()).hexdigest(),)
    signed = signed_in(await world.desk.decide(make_decision(request.approval_id, dave)))

    assert (signed.environment, signed.required_approvals, signed.approvers) == ("prod", 2, ["bob", "dave"])
    assert [(a.approver, a.token_sha256) for a in signed.approvals] == [
        ("bob", hashlib.sha256(bob.encode()).hexdigest()),
        ("dave", hashlib.sha256(dave.encode()).hexdigest()),
    ]


async def test_an_autonomous_action_is_signed_with_its_environment_and_no_approvals(world, make_plan):
    out = await world.gate.handle(make_plan(environment="dev"))
    assert next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1").outcome is (
        DecisionOutcome.EXECUTE
    )
    signed = signed_in(out)
    assert (signed.environment, signed.required_approvals, signed.approvals, signed.tier) == ("dev", 0, [], 1)
