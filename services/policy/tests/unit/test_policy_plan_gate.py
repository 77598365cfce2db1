"""The plan use case: ranked actions, refusals and hand-offs always leave a trail and a human."""

from __future__ import annotations

from warden_contracts.envelope import Envelope
from warden_contracts.events import DecisionOutcome, EscalationRaised, PolicyDecided, ProposedAction


def action(action_id: str, kind: str, params: dict[str, object] | None = None) -> ProposedAction:
    return ProposedAction(
        action_id=action_id, kind=kind, target="checkout", params=params or {}, rationale="r", confidence=0.7
    )


def verdicts(out: list[Envelope]) -> list[tuple[str, DecisionOutcome]]:
    return [
        (p.action_id, p.outcome) for p in (e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")
    ]


def escalations(out: list[Envelope]) -> list[EscalationRaised]:
    return [e.payload(EscalationRaised) for e in out if e.type == "sre.escalation.raised.v1"]


async def test_policy_first_acceptable_action_is_gated_after_defective_ones(world, make_plan) -> None:
    plan = make_plan(
        actions=[
            action("a-unknown", "drop_table"),
            action("a-badparams", "scale_service", {"replicas": 99}),
            action("a-restart", "restart_service"),
            action("a-never", "scale_service", {"replicas": 2}),
        ]
    )
    out = await world.gate.handle(plan)
    assert verdicts(out) == [
        ("a-unknown", DecisionOutcome.REFUSED),
        ("a-badparams", DecisionOutcome.REFUSED),
        ("a-restart", DecisionOutcome.EXECUTE),
    ]
    assert [e.type for e in out][-2:] == ["sre.action.approved.v1", "sre.action.pending.v1"]
    assert not escalations(out)
    assert (await world.store.live_slot("checkout", world.now)).action_id == "a-restart"


async def test_policy_plan_without_acceptable_action_escalates(world, make_plan) -> None:
    out = await world.gate.handle(make_plan(actions=[action("a-1", "drop_table")]))
    assert verdicts(out) == [("a-1", DecisionOutcome.REFUSED)]
    (escalation,) = escalations(out)
    assert escalation.priority == "P1" and "no action taken" in escalation.reason
    assert escalation.evidence and "a-1 drop_table on checkout: refused" in escalation.timeline[0]


async def test_policy_tier_three_is_handed_off_never_signed(world, make_plan) -> None:
    out = await world.gate.handle(make_plan(kind="failover_region"))
    assert verdicts(out)[0][1] is DecisionOutcome.HANDOFF
    (escalation,) = escalations(out)
    assert escalation.priority == "P1" and "handed off" in escalation.reason
    assert not [e for e in out if e.type in ("sre.action.approved.v1", "sre.action.pending.v1")]


async def test_policy_tier_two_needs_approval_even_when_autonomous(world, make_plan) -> None:
    out = await world.gate.handle(make_plan(incident_class="memory_pressure", kind="renew_certificate"))
    assert verdicts(out)[0][1] is DecisionOutcome.AWAIT_APPROVAL
    request = next(e for e in out if e.type == "sre.approval.requested.v1")
    assert request.data["tier"] == 2 and request.data["reversible"] is False
    assert request.data["rollback_plan"] == "none: the action is not reversible"
