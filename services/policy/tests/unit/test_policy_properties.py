"""Property: whatever sequence of proposals, controls, human decisions, clock jumps and incident
resolutions arrives, no signed action leaves the gate for tier 3, at Reader level, under the kill
switch, after its approval expired, or without the valid approvals the policy needs."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for, new_id
from warden_contracts.events import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
    IncidentChanged,
    IncidentState,
    PlanProposed,
    ProposedAction,
    Severity,
    SignedAction,
)
from warden_security.tokens import APPROVAL_AUDIENCE

KINDS = {
    "restart_service": {},
    "scale_service": {"replicas": 3},
    "rollback_deployment": {"to_version": "v1"},
    "renew_certificate": {},
    "failover_region": {},
}
PEOPLE = {"alice": ["sre-oncall"], "bob": ["sre-leads"], "dave": ["sre-leads"], "carol": ["viewers"]}
MAY_APPROVE = {"alice": 1, "bob": 2, "dave": 2}  # highest tier each may approve under the shipped policy

propose = st.tuples(
    st.just("propose"),
    st.sampled_from(sorted(KINDS)),
    st.sampled_from(["dev", "prod"]),
    st.sampled_from(["memory_pressure", "elevated_error_rate", "security_alert"]),
    st.sampled_from(["warden-planner", "alice", "bob"]),
)
control = st.tuples(
    st.just("control"),
    st.sampled_from(
        [
            (ControlKind.KILL_SWITCH, "on", "global"),
            (ControlKind.KILL_SWITCH, "off", "global"),
            (ControlKind.ACCESS_LEVEL, "reader", "global"),
            (ControlKind.ACCESS_LEVEL, "privileged", "global"),
            (ControlKind.PLAN_RUN_MODE, "autonomous", "plan:error-rate"),
            (ControlKind.PLAN_RUN_MODE, "autonomous", "plan:prod-always-review"),
            (ControlKind.SHADOW, "on", "global"),
            (ControlKind.SHADOW, "off", "global"),
        ]
    ),
)
decide = st.tuples(
    st.just("decide"),
    st.integers(0, 5),
    st.sampled_from(sorted(PEOPLE)),
    st.sampled_from(["valid", "wrong_hash", "expired", "claims_leads"]),
    st.sampled_from(list(ApprovalDecision)),
)
wait = st.tuples(st.just("wait"), st.integers(1, 1200))
resolve = st.tuples(st.just("resolve"), st.integers(0, 5))
events = st.lists(st.one_of(propose, control, decide, wait, resolve), min_size=1, max_size=14)


@dataclass
class Model:
    kill: bool = False
    reader: bool = False
    shadow: bool = False
    error_rate_autonomous: bool = False
    requests: list[ApprovalRequested] = field(default_factory=list)
    requested_by: dict[str, str] = field(default_factory=dict)
    valid_approvers: dict[str, set[str]] = field(default_factory=dict)


def _plan(kind: str, env: str, incident_class: str, by: str) -> Envelope:
    incident = f"inc-{new_id()[:8]}"
    action = ProposedAction(
        action_id=f"act-{new_id()[:8]}",
        kind=kind,
        target=f"svc-{new_id()[:6]}",
        params=KINDS[kind],
        rationale="r",
        confidence=0.5,
    )
    payload = PlanProposed(
        incident_id=incident,
        plan_id="p",
        incident_class=incident_class,
        environment=env,
        runbook="r",
        summary="s",
        actions=[action],
        requested_by=by,
    )
    return envelope_for("sre.plan.proposed.v1", payload, source="warden/planner", correlationid=incident)


def _check(
    out: list[Envelope],
    model: Model,
    world: Any,
    via_approval: ApprovalRequested | None,
    plan: tuple[str, str] = ("", ""),
) -> None:
    tiers = {k: s.tier for k, s in default_catalog().actions.items()}
    for env in out:
        if env.type != "sre.action.approved.v1":
            continue
        signed = env.payload(SignedAction)
        assert tiers[signed.kind] == signed.tier and signed.tier < 3, "tier 3 never runs"
        assert not model.kill, "kill switch on"
        assert not model.reader, "reader level"
        assert not model.shadow, "shadow mode never executes"
        if via_approval is None:  # released without a human: only where Autonomous allows it
            environment, incident_class = plan
            assert signed.approvers == [] and signed.tier <= 1 and environment == "dev"
            assert incident_class == "memory_pressure" or (
                incident_class == "elevated_error_rate" and model.error_rate_autonomous
            )
            continue
        assert world.now < via_approval.expires_at, "released after expiry"
        approvers = set(signed.approvers)
        assert approvers and approvers <= model.valid_approvers[via_approval.approval_id]
        assert model.requested_by[via_approval.approval_id] not in approvers, "self-approval"
        assert all(MAY_APPROVE[a] >= signed.tier for a in approvers), "approver's group may not approve this tier"
        if signed.tier == 2 and via_approval.environment == "prod":
            assert len(approvers) >= 2, "two-person rule"


async def _run(world: Any, issuer: Any, steps: list[tuple[Any, ...]]) -> None:
    model = Model()
    await world.store.open()
    try:
        for step in steps:
            await _step(world, issuer, model, step)
    finally:
        await world.store.close()


async def _step(world: Any, issuer: Any, model: Model, step: tuple[Any, ...]) -> None:
    what = step[0]
    if what == "propose":
        _, kind, env, incident_class, by = step
        out = await world.gate.handle(_plan(kind, env, incident_class, by))
        for e in out:
            if e.type == "sre.approval.requested.v1":
                request = e.payload(ApprovalRequested)
                model.requests.append(request)
                model.requested_by[request.approval_id] = request.requested_by
                model.valid_approvers[request.approval_id] = set()
        _check(out, model, world, None, (env, incident_class))
    elif what == "control":
        kind, value, scope = step[1]
        # An operator forcing the promotion past the autonomy bar (it needs a reason).
        forced = kind is ControlKind.PLAN_RUN_MODE
        change = ControlChanged(
            kind=kind, value=value, scope=scope, changed_by="ops", forced=forced, reason="pilot" if forced else ""
        )
        await world.ops.control_changed(envelope_for("sre.control.changed.v1", change, source="o", correlationid="o"))
        model.kill = value == "on" if kind is ControlKind.KILL_SWITCH else model.kill
        model.reader = value == "reader" if kind is ControlKind.ACCESS_LEVEL else model.reader
        model.shadow = value == "on" if kind is ControlKind.SHADOW else model.shadow
        model.error_rate_autonomous |= scope == "plan:error-rate"
    elif what == "decide" and model.requests:
        _, index, person, token_kind, decision = step
        request = model.requests[index % len(model.requests)]
        groups = ["sre-leads"] if token_kind == "claims_leads" else PEOPLE[person]
        token = issuer.issue(
            person,
            APPROVAL_AUDIENCE,
            -60 if token_kind == "expired" else 300,
            approval_id=request.approval_id,
            action_hash="0" * 64 if token_kind == "wrong_hash" else request.action_hash,
            groups=groups,
        )
        # A group claim is only as good as the directory behind it: bob and dave really are leads.
        truthful = token_kind == "valid" or (token_kind == "claims_leads" and "sre-leads" in PEOPLE[person])
        if truthful and decision is ApprovalDecision.APPROVE and world.now < request.expires_at:
            model.valid_approvers[request.approval_id].add(person)
        payload = ApprovalDecided(approval_id=request.approval_id, decision=decision, identity_token=token)
        out = await world.desk.decide(envelope_for("sre.approval.decided.v1", payload, source="a", correlationid="c"))
        _check(out, model, world, request)
    elif what == "wait":
        world.now += timedelta(seconds=step[1])
        _check(await world.desk.expire_due(), model, world, None)
    elif what == "resolve" and model.requests:
        request = model.requests[step[1] % len(model.requests)]
        resolved = IncidentChanged(
            incident_id=request.incident_id,
            change=IncidentState.RESOLVED,
            incident_class="x",
            title="t",
            service=None,
            resource_id="r",
            environment=request.environment,
            severity=Severity.SEV3,
            fingerprint="f",
            alert_count=1,
            opened_at=world.now,
        )
        out = await world.desk.supersede(
            envelope_for("sre.incident.changed.v1", resolved, source="t", correlationid="c")
        )
        _check(out, model, world, None)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=events)
def test_policy_no_event_sequence_releases_a_forbidden_action(
    fresh_world: Callable[[Path], tuple[Any, Any]], steps: list[tuple[Any, ...]]
) -> None:
    with tempfile.TemporaryDirectory(prefix="policy-prop-") as root:
        world, issuer = fresh_world(Path(root))
        asyncio.run(_run(world, issuer, steps))
