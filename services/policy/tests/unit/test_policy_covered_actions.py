"""Two incidents, one remediation: an identical proposal for a target whose action is already under
way or awaiting its approval is covered by it (no page, no second request, nothing run twice), and
handed off if that action does not fix it or never runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ActionReported,
    ApprovalDecision,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
    DecisionOutcome,
    EscalationRaised,
    IncidentChanged,
    IncidentState,
    PolicyDecided,
    ReportStatus,
    Severity,
    SignedAction,
)
from warden_policy.domain.approvals import ApprovalState
from warden_policy.ports import Changes, Conflict, Covered, Slot

RUN = ("sre.action.approved.v1", "sre.action.pending.v1", "sre.elevation.ticketed.v1")


def decided(out: list[Envelope]) -> PolicyDecided:
    return next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")


def escalations(out: list[Envelope]) -> list[EscalationRaised]:
    return [e.payload(EscalationRaised) for e in out if e.type == "sre.escalation.raised.v1"]


async def report(world, signed: SignedAction, status: ReportStatus) -> list[Envelope]:
    payload = ActionReported(
        action_id=signed.action_id,
        incident_id=signed.incident_id,
        kind=signed.kind,
        target=signed.target,
        status=status,
    )
    env = envelope_for("sre.action.reported.v1", payload, source="warden/executor", correlationid=signed.incident_id)
    return await world.ops.action_reported(env)


async def first_and_second(world, make_plan, **second) -> tuple[SignedAction, list[Envelope]]:
    first = await world.gate.handle(make_plan(incident_id="inc-errors", kind="scale_service", params={"replicas": 3}))
    signed = next(e.payload(SignedAction) for e in first if e.type == "sre.action.approved.v1")
    args = {"kind": "scale_service", "params": {"replicas": 3}} | second
    return signed, await world.gate.handle(make_plan(incident_id="inc-latency", **args))


async def test_policy_identical_action_in_flight_covers_the_second_incident_without_a_page(world, make_plan) -> None:
    signed, out = await first_and_second(world, make_plan)
    assert not escalations(out)
    assert not [e for e in out if e.type in RUN]  # the action never runs twice
    why = decided(out).reasons[0]
    assert why == f"covered_by: action {signed.action_id} of incident inc-errors is this same action, already under way"
    assert (await world.store.live_slot("checkout", world.now)).action_id == signed.action_id
    (cover,) = await world.store.covered_by(signed.action_id)
    assert cover.incident_id == "inc-latency"

    assert not escalations(await report(world, signed, ReportStatus.VERIFIED))
    assert await world.store.covered_by(signed.action_id) == []


async def test_policy_covered_incident_is_handed_off_when_the_covering_action_fails(world, make_plan) -> None:
    signed, out = await first_and_second(world, make_plan)
    assert not escalations(out)
    (handoff,) = escalations(await report(world, signed, ReportStatus.ROLLED_BACK))
    assert handoff.incident_id == "inc-latency" and handoff.priority == "P2"
    assert f"covered by action {signed.action_id} of incident inc-errors" in handoff.reason
    assert await world.store.covered_by(signed.action_id) == []


async def test_policy_different_action_on_a_busy_target_is_still_handed_off(world, make_plan) -> None:
    signed, out = await first_and_second(world, make_plan, kind="restart_service", params={})
    assert decided(out).outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("one_action_per_target:") for r in decided(out).reasons)
    assert not any(r.startswith("covered_by") for r in decided(out).reasons)
    (escalation,) = escalations(out)
    assert escalation.priority == "P2" and escalation.incident_id == "inc-latency"
    assert await world.store.covered_by(signed.action_id) == []


async def test_policy_cover_never_admits_what_the_gate_refuses(world, make_plan) -> None:
    # The same action, proposed from an environment that is frozen: on a free target it would be
    # refused, so the busy target is not the only thing in its way and the refusal stands.
    change = ControlChanged(kind=ControlKind.FREEZE, value="on", scope="env:prod", changed_by="ops")
    await world.ops.control_changed(envelope_for("sre.control.changed.v1", change, source="ops", correlationid="ops"))
    signed, out = await first_and_second(world, make_plan, environment="prod")
    assert decided(out).outcome is DecisionOutcome.REFUSED
    assert not any(r.startswith("covered_by") for r in decided(out).reasons)
    assert [e.incident_id for e in escalations(out)] == ["inc-latency"]
    assert await world.store.covered_by(signed.action_id) == []


async def test_policy_covers_are_shared_by_replicas_on_sqlite_and_postgres(stores, world, make_plan) -> None:
    first, second = stores
    plan = make_plan()
    raised = escalation_for("inc-2")
    handoff = envelope_for("sre.escalation.raised.v1", raised, source="warden/policy", correlationid="c")
    slot = Slot("svc-1", "act-1", "inc-1", world.now + timedelta(minutes=20), "hash-1")
    cover = Covered("act-1", "inc-2", handoff)
    await first.apply(Changes(message_id=plan.id, acquire=[slot], covered=[cover]), world.now)
    assert (await second.live_slot("svc-1", world.now)).action_hash == "hash-1"
    (cover,) = await second.covered_by("act-1")
    assert (cover.incident_id, cover.handoff) == ("inc-2", handoff)
    await second.apply(Changes(uncover=["act-1"]), world.now)
    assert await first.covered_by("act-1") == []


def escalation_for(incident_id: str) -> EscalationRaised:
    return EscalationRaised(incident_id=incident_id, priority="P2", reason="r", raised_by="warden/policy")


# ---- covered by a request still awaiting its approval ----


async def pending_and_covered(world, make_plan) -> tuple[ApprovalRequested, list[Envelope]]:
    """Production pins Review: the first incident's restart awaits approval when the second proposes it."""
    first = await world.gate.handle(make_plan(incident_id="inc-errors", environment="prod"))
    (request,) = [e.payload(ApprovalRequested) for e in first if e.type == "sre.approval.requested.v1"]
    return request, await world.gate.handle(make_plan(incident_id="inc-latency", environment="prod"))


async def decide(world, make_decision, issue_token, request: ApprovalRequested, decision: ApprovalDecision):
    token = issue_token("bob", approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-leads"])
    return await world.desk.decide(make_decision(request.approval_id, token, decision, reason="not now"))


async def test_policy_identical_action_awaiting_approval_covers_without_a_second_request(
    world, make_plan, make_decision, issue_token
) -> None:
    request, out = await pending_and_covered(world, make_plan)
    assert not escalations(out)
    assert not [e for e in out if e.type == "sre.approval.requested.v1" or e.type in RUN]
    action_id = request.action.action_id
    assert decided(out).reasons[0] == (
        f"covered_by: action {action_id} of incident inc-errors is this same action, "
        "awaiting approval (no second request)"
    )
    assert [a.incident_id for a in await world.store.pending_for_incident("inc-latency")] == []
    (cover,) = await world.store.covered_by(action_id)
    assert cover.incident_id == "inc-latency"

    # Approved: it runs once, for the first incident, and still covers the second until it is verified.
    approved = await decide(world, make_decision, issue_token, request, ApprovalDecision.APPROVE)
    (signed,) = [e.payload(SignedAction) for e in approved if e.type == "sre.action.approved.v1"]
    assert (signed.action_id, signed.incident_id) == (action_id, "inc-errors")
    assert not escalations(approved)
    assert [c.incident_id for c in await world.store.covered_by(action_id)] == ["inc-latency"]
    assert not escalations(await report(world, signed, ReportStatus.VERIFIED))
    assert await world.store.covered_by(action_id) == []


async def test_policy_denied_covering_request_hands_the_covered_incident_off(
    world, make_plan, make_decision, issue_token
) -> None:
    request, _ = await pending_and_covered(world, make_plan)
    out = await decide(world, make_decision, issue_token, request, ApprovalDecision.DENY)
    assert decided(out).outcome is DecisionOutcome.DENIED
    (handoff,) = escalations(out)
    assert (handoff.incident_id, handoff.priority) == ("inc-latency", "P2")
    assert handoff.reason == (
        f"action restart_service on checkout was covered by action {request.action.action_id} of incident "
        "inc-errors, which awaited approval and was denied by bob: no action taken for this incident"
    )
    assert handoff.evidence  # the covered incident's own evidence, saved when it was covered
    assert not [e for e in out if e.type in RUN or e.type == "sre.approval.requested.v1"]  # nobody is re-asked
    assert await world.store.covered_by(request.action.action_id) == []
    assert await world.store.live_slot("checkout", world.now) is None


async def test_policy_timed_out_covering_request_hands_both_incidents_off_and_acts_on_neither(world, make_plan) -> None:
    request, _ = await pending_and_covered(world, make_plan)
    world.now = request.expires_at + timedelta(seconds=1)
    out = await world.desk.expire_due()
    assert not [e for e in out if e.type in RUN]
    by_incident = {e.incident_id: e for e in escalations(out)}
    assert set(by_incident) == {"inc-errors", "inc-latency"}
    assert by_incident["inc-latency"].reason.endswith(
        "which awaited approval and timed out: no action taken for this incident"
    )
    assert await world.store.covered_by(request.action.action_id) == []


async def test_policy_withdrawn_covering_request_hands_the_still_open_incident_off(world, make_plan) -> None:
    request, _ = await pending_and_covered(world, make_plan)
    resolved = IncidentChanged(
        incident_id="inc-errors",
        change=IncidentState.RESOLVED,
        incident_class="memory_pressure",
        title="t",
        service="checkout",
        resource_id="r",
        environment="prod",
        severity=Severity.SEV3,
        fingerprint="f",
        alert_count=1,
        opened_at=world.now,
    )
    out = await world.desk.supersede(envelope_for("sre.incident.changed.v1", resolved, source="t", correlationid="c"))
    assert decided(out).outcome is DecisionOutcome.SUPERSEDED
    (handoff,) = escalations(out)
    assert handoff.incident_id == "inc-latency"
    assert "was withdrawn when incident inc-errors resolved" in handoff.reason
    assert await world.store.covered_by(request.action.action_id) == []


async def test_policy_same_incident_proposing_its_pending_action_again_is_not_covered(world, make_plan) -> None:
    await world.gate.handle(make_plan(incident_id="inc-errors", environment="prod"))
    out = await world.gate.handle(make_plan(incident_id="inc-errors", environment="prod"))
    assert not any(r.startswith("covered_by") for r in decided(out).reasons)
    assert decided(out).outcome is DecisionOutcome.REFUSED


async def test_policy_cover_and_a_denial_decided_meanwhile_cannot_both_commit(world, make_plan) -> None:
    # A denial decided on the request as it was before the cover (a replica, or a concurrent
    # handler, that read it first) must not commit past the cover, or the new cover would be
    # dropped unraised: the cover writes the request back, so the denial conflicts and re-decides.
    first = await world.gate.handle(make_plan(incident_id="inc-errors", environment="prod"))
    (request,) = [e.payload(ApprovalRequested) for e in first if e.type == "sre.approval.requested.v1"]
    before_the_cover = await world.store.get_approval(request.approval_id)
    await world.gate.handle(make_plan(incident_id="inc-latency", environment="prod"))
    stale_denial = Changes(updated_approvals=[before_the_cover.deny("bob", "no", world.now)])
    with pytest.raises(Conflict):
        await world.store.apply(stale_denial, world.now)
    current = await world.store.get_approval(request.approval_id)
    assert current.state is ApprovalState.PENDING and current.version == before_the_cover.version + 1
