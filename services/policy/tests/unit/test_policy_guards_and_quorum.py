"""M-of-N approvals, guards applied again at approval time, shadow mode, incident ownership,
blast radius and the approval card, through the gate's use cases on a real store."""

from __future__ import annotations

from datetime import timedelta

from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ActionReported,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
    DecisionOutcome,
    EscalationRaised,
    PolicyDecided,
    ProposedAction,
    ReportStatus,
    SignedAction,
)
from warden_policy.domain.approvals import ApprovalState


def decided(out: list[Envelope]) -> PolicyDecided:
    return next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")


def types(out: list[Envelope]) -> list[str]:
    return [e.type for e in out]


async def control(world, kind: ControlKind, value: str, scope: str = "global") -> None:
    change = ControlChanged(kind=kind, value=value, scope=scope, changed_by="ops")
    await world.ops.control_changed(envelope_for("sre.control.changed.v1", change, source="ops", correlationid="ops"))


async def test_policy_tier_two_in_prod_needs_two_distinct_approvers(world, make_plan, issue_token, make_decision):
    request = await world.request(make_plan(environment="prod", kind="renew_certificate", target="payments-api"))
    assert request.approvals_required == 2 and request.brief and request.brief.approvals_required == 2

    def token(who: str) -> str:
        return issue_token(who, approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-leads"])

    first = await world.desk.decide(make_decision(request.approval_id, token("bob")))
    assert decided(first).outcome is DecisionOutcome.AWAIT_APPROVAL and types(first) == ["sre.policy.decided.v1"]
    assert "1 of 2 by bob" in decided(first).reasons[0]
    again = await world.desk.decide(make_decision(request.approval_id, token("bob")))
    assert decided(again).outcome is DecisionOutcome.REJECTED_APPROVAL
    assert decided(again).reasons[0].startswith("bob already approved")
    second = await world.desk.decide(make_decision(request.approval_id, token("dave")))
    assert decided(second).outcome is DecisionOutcome.APPROVED
    signed = next(e.payload(SignedAction) for e in second if e.type == "sre.action.approved.v1")
    assert signed.approvers == ["bob", "dave"] and signed.tier == 2
    stored = await world.store.get_approval(request.approval_id)
    assert stored.state is ApprovalState.APPROVED and stored.approved_by == ("bob", "dave")


async def test_policy_guards_apply_again_at_approval_time(world, make_plan, issue_token, make_decision):
    request = await world.request(make_plan(incident_class="elevated_error_rate", target="orders-api"))
    await control(world, ControlKind.FREEZE, "on", "env:dev")
    token = issue_token(
        "alice", approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-oncall"]
    )
    out = await world.desk.decide(make_decision(request.approval_id, token))
    assert decided(out).outcome is DecisionOutcome.REFUSED and types(out) == ["sre.policy.decided.v1"]
    assert any(r.startswith("change_freeze:") for r in decided(out).reasons)
    assert (await world.store.get_approval(request.approval_id)).state is ApprovalState.PENDING
    await control(world, ControlKind.FREEZE, "off", "env:dev")
    fresh = issue_token(
        "alice", approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-oncall"]
    )
    assert decided(await world.desk.decide(make_decision(request.approval_id, fresh))).outcome is (
        DecisionOutcome.APPROVED
    )


async def test_policy_shadow_mode_decides_but_never_acts_or_asks(world, make_plan):
    await control(world, ControlKind.SHADOW, "on")
    for plan in (make_plan(), make_plan(incident_class="elevated_error_rate", target="orders-api")):
        out = await world.gate.handle(plan)
        assert types(out) == ["sre.policy.decided.v1"]
        assert decided(out).outcome is DecisionOutcome.SHADOWED
    assert decided(out).reasons[0] == "shadow: would have await_approval"
    await control(world, ControlKind.SHADOW, "off")
    await control(world, ControlKind.PLAN_RUN_MODE, "shadow", "plan:memory-pressure-nonprod")
    shadowed = await world.gate.handle(make_plan(target="cart-api"))
    assert decided(shadowed).outcome is DecisionOutcome.SHADOWED
    assert "shadow: would have execute" in decided(shadowed).reasons


async def test_policy_human_commander_and_advisory_mode_hand_off(world, make_plan):
    plan = make_plan()
    await control(world, ControlKind.INCIDENT_OWNER, "erin", f"incident:{plan.data['incident_id']}")
    out = await world.gate.handle(plan)
    assert decided(out).outcome is DecisionOutcome.HANDOFF
    escalation = next(e.payload(EscalationRaised) for e in out if e.type == "sre.escalation.raised.v1")
    assert escalation.priority == "P2"
    assert decided(await world.gate.handle(make_plan())).outcome is DecisionOutcome.EXECUTE  # other incidents
    await control(world, ControlKind.ADVISORY, "on")
    assert decided(await world.gate.handle(make_plan(target="cart-api"))).outcome is DecisionOutcome.HANDOFF


async def test_policy_blast_radius_caps_actions_per_target_per_hour(world, make_plan):
    for _ in range(3):
        out = await world.gate.handle(make_plan(target="checkout-api"))
        signed = next(e.payload(SignedAction) for e in out if e.type == "sre.action.approved.v1")
        report = ActionReported(
            action_id=signed.action_id,
            incident_id=signed.incident_id,
            kind=signed.kind,
            target=signed.target,
            status=ReportStatus.VERIFIED,
        )
        await world.ops.action_reported(
            envelope_for("sre.action.reported.v1", report, source="warden/executor", correlationid="c")
        )
    capped = await world.gate.handle(make_plan(target="checkout-api"))
    assert decided(capped).outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("blast_radius_target:") for r in decided(capped).reasons)
    world.now += timedelta(hours=1, seconds=1)
    assert decided(await world.gate.handle(make_plan(target="checkout-api"))).outcome is DecisionOutcome.EXECUTE


async def test_policy_approval_card_is_plain_bounded_and_bound_to_the_action(world, make_plan):
    hostile = ProposedAction(
        action_id="act-card",
        kind="rollback_deployment",
        target="orders-api",
        params={"to_version": "v1.2"},
        rationale="[click here](https://evil.example/login) **now** " + "x" * 400,
        confidence=0.7,
    )
    request: ApprovalRequested = await world.request(
        make_plan(incident_class="elevated_error_rate", actions=[hostile], resource_group="rg-shop-dev")
    )
    card = request.adaptive_card
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    verbs = {a["verb"]: a for a in card["actions"]}
    assert set(verbs) == {"approve", "deny"} and all(a["type"] == "Action.Execute" for a in card["actions"])
    assert verbs["approve"]["data"] == {"approval_id": request.approval_id, "action_hash": request.action_hash}
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Where"] == "orders-api in dev rg-shop-dev" and facts["Reversible"] == "yes"
    assert facts["Rollback"] == "redeploy the version that was running before the action"
    texts = [block.get("text", "") for block in card["body"]]
    assert not any("](" in t or "**" in t for t in texts)
    assert request.brief is not None and all(len(line) <= 200 for line in request.brief.why)
    assert request.brief.why[0].startswith("rationale: click here https://evil.example/login now")
