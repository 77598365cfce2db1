"""The policy service on a real embedded NATS server (operator mode, topology permissions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ActionReported,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
    DecisionOutcome,
    IncidentChanged,
    IncidentState,
    PromotionEvidence,
    ReportStatus,
    Severity,
    SignedAction,
)
from warden_policy.app import create_app
from warden_policy.ports import PolicyPorts
from warden_security.action_signing import verify_action
from warden_security.keys import key_id, load_public_key
from warden_testkit.bus import EmbeddedBroker

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DECIDED = "sre.policy.decided.v1"
SIGNED = "sre.action.approved.v1"
DOORBELL = "sre.action.pending.v1"
REQUESTED = "sre.approval.requested.v1"
ESCALATION = "sre.escalation.raised.v1"


@asynccontextmanager
async def policy(
    broker: EmbeddedBroker, data_dir: Path, pubkey: Path, ports: PolicyPorts | None = None, **overrides: Any
) -> AsyncIterator[ServiceRuntime]:
    app = create_app(
        ports=ports,
        nats_url=broker.url,
        nats_creds=broker.creds("policy"),
        data_dir=data_dir,
        approver_issuer_pubkey=pubkey,
        deadline_interval_s=0.1,
        **overrides,
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def publish(broker: EmbeddedBroker, identity: str, *envelopes: Envelope) -> None:
    bus = broker.bus(identity)
    await bus.start()
    try:
        for envelope in envelopes:
            await bus.publish(envelope)
    finally:
        await bus.stop()


def of_incident(incident_id: str, **data: object) -> Callable[[Envelope], bool]:
    def match(env: Envelope) -> bool:
        return env.data.get("incident_id") == incident_id and all(env.data.get(k) == v for k, v in data.items())

    return match


async def one(broker: EmbeddedBroker, topic: str, predicate: Callable[[Envelope], bool]) -> Envelope:
    found = await broker.wait_for(topic, predicate, timeout=20)
    assert found, f"nothing on {topic}"
    return found[0]


async def handled(app: ServiceRuntime, counter: str, count: int = 1) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while app.counters.values.get(counter, 0) < count:
        assert loop.time() < deadline, f"{counter} not handled in time"
        await asyncio.sleep(0.05)


async def test_policy_autonomous_restart_is_signed_and_rung(broker, tmp_path, approver_pubkey, make_plan) -> None:
    plan = make_plan(incident_class="memory_pressure", environment="dev", kind="restart_service")
    incident, action_id = plan.data["incident_id"], plan.data["actions"][0]["action_id"]
    async with policy(broker, tmp_path / "policy", approver_pubkey):
        await publish(broker, "planner", plan)
        signed_env = await one(broker, SIGNED, of_incident(incident))
        doorbell = await one(broker, DOORBELL, lambda e: e.data["action_id"] == action_id)
        verdict = await one(broker, DECIDED, of_incident(incident))
    signed = signed_env.payload(SignedAction)
    public = load_public_key(tmp_path / "policy" / "keys" / "policy-signing.pub.pem")
    assert verify_action(signed, {key_id(public): public}, now=datetime.now(UTC)) == []
    assert (signed.action_id, signed.kind, signed.target, signed.tier) == (action_id, "restart_service", "checkout", 1)
    assert doorbell.data == {"action_id": action_id} and doorbell.causationid == plan.id
    assert verdict.data["outcome"] == DecisionOutcome.EXECUTE
    assert "response_plan: memory-pressure-nonprod sets autonomous" in verdict.data["reasons"]


async def test_policy_review_then_approve_releases_the_action(
    broker, tmp_path, approver_pubkey, make_plan, issue_token, make_decision
) -> None:
    plan = make_plan(
        incident_class="elevated_error_rate",
        environment="staging",
        kind="rollback_deployment",
        params={"to_version": "v2.1"},
    )
    incident = plan.data["incident_id"]
    async with policy(broker, tmp_path / "policy", approver_pubkey):
        await publish(broker, "planner", plan)
        request = (await one(broker, REQUESTED, of_incident(incident))).payload(ApprovalRequested)
        assert (request.tier, request.environment, request.reversible) == (2, "staging", True)
        assert request.rollback_plan.startswith("redeploy") and request.blast_radius == "one service, version change"
        assert request.requested_by == "warden-planner" and request.evidence and request.summary
        assert not await broker.read_all(SIGNED)
        # A rollback is tier 2: a lead approves it (one is enough outside production).
        token = issue_token(
            "bob", approval_id=request.approval_id, action_hash=request.action_hash, groups=["sre-leads"]
        )
        await publish(broker, "approver", make_decision(request.approval_id, token, correlationid=incident))
        signed = (await one(broker, SIGNED, of_incident(incident))).payload(SignedAction)
        await one(broker, DOORBELL, lambda e: e.data["action_id"] == signed.action_id)
        approved = await one(broker, DECIDED, of_incident(incident, outcome="approved"))
    assert signed.approvers == ["bob"] and signed.params == {"to_version": "v2.1"}
    assert approved.data["approvers"] == ["bob"] and approved.data["approval_id"] == request.approval_id


async def test_policy_approval_timeout_expires_and_escalates(broker, tmp_path, approver_pubkey, make_plan) -> None:
    plan = make_plan(incident_class="elevated_error_rate", kind="rollback_deployment", params={"to_version": "v1"})
    incident = plan.data["incident_id"]
    async with policy(broker, tmp_path / "policy", approver_pubkey, approval_timeout_s=1):
        await publish(broker, "planner", plan)
        await one(broker, REQUESTED, of_incident(incident))
        expired = await one(broker, DECIDED, of_incident(incident, outcome="expired"))
        escalation = await one(broker, ESCALATION, of_incident(incident))
    assert escalation.data["reason"] == "approval timed out: no action taken"
    assert escalation.data["priority"] == "P1" and escalation.data["evidence"][0]["tool"] == "metrics"
    assert expired.data["approval_id"] and escalation.correlationid == incident
    assert not [e for e in await broker.read_all(SIGNED) if e.data["incident_id"] == incident]
    assert not [e for e in await broker.read_all(DOORBELL)]


async def test_policy_pending_approval_expires_after_restart(broker, tmp_path, approver_pubkey, make_plan) -> None:
    plan = make_plan(incident_class="elevated_error_rate", kind="rollback_deployment", params={"to_version": "v1"})
    incident = plan.data["incident_id"]
    async with policy(broker, tmp_path / "policy", approver_pubkey):
        await publish(broker, "planner", plan)
        request = await one(broker, REQUESTED, of_incident(incident))
    assert not await broker.read_all(ESCALATION)

    def an_hour_later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=1)

    async with policy(broker, tmp_path / "policy", approver_pubkey, ports=PolicyPorts(clock=an_hour_later)):
        expired = await one(broker, DECIDED, of_incident(incident, outcome="expired"))
        await one(broker, ESCALATION, of_incident(incident))
    assert expired.data["approval_id"] == request.data["approval_id"]
    assert expired.causationid == request.id


async def test_policy_resolved_incident_supersedes_pending(broker, tmp_path, approver_pubkey, make_plan) -> None:
    plan = make_plan(incident_class="elevated_error_rate", kind="rollback_deployment", params={"to_version": "v1"})
    incident = plan.data["incident_id"]
    async with policy(broker, tmp_path / "policy", approver_pubkey):
        await publish(broker, "planner", plan)
        request = await one(broker, REQUESTED, of_incident(incident))
        resolved = IncidentChanged(
            incident_id=incident,
            change=IncidentState.RESOLVED,
            incident_class="elevated_error_rate",
            title="errors",
            service="checkout",
            resource_id="/r/checkout",
            environment="dev",
            severity=Severity.SEV2,
            fingerprint="fp",
            alert_count=1,
            opened_at=datetime.now(UTC),
        )
        await publish(
            broker,
            "triage",
            envelope_for("sre.incident.changed.v1", resolved, source="warden/triage", correlationid=incident),
        )
        superseded = await one(broker, DECIDED, of_incident(incident, outcome="superseded"))
    assert superseded.data["approval_id"] == request.data["approval_id"]


async def test_policy_kill_switch_busy_target_and_release(broker, tmp_path, approver_pubkey, make_plan) -> None:
    def control(kind: ControlKind, value: str) -> Envelope:
        return envelope_for(
            "sre.control.changed.v1",
            ControlChanged(kind=kind, value=value, changed_by="ops"),
            source="warden/operator",
            correlationid="ops",
        )

    killed, first, busy, after = (make_plan() for _ in range(4))
    async with policy(broker, tmp_path / "policy", approver_pubkey) as app:
        await publish(broker, "operator", control(ControlKind.KILL_SWITCH, "on"))
        await handled(app, "control_changes")  # topics are independent streams: wait before the next one
        await publish(broker, "planner", killed)
        refused = await one(broker, DECIDED, of_incident(killed.data["incident_id"]))
        assert (
            refused.data["outcome"] == "refused"
            and "kill_switch: the kill switch is on: no action may run" in refused.data["reasons"]
        )
        await one(broker, ESCALATION, of_incident(killed.data["incident_id"]))

        await publish(broker, "operator", control(ControlKind.KILL_SWITCH, "off"))
        await handled(app, "control_changes", 2)
        await publish(broker, "planner", first)
        signed = (await one(broker, SIGNED, of_incident(first.data["incident_id"]))).payload(SignedAction)
        await publish(broker, "planner", busy)
        refused_busy = await one(broker, DECIDED, of_incident(busy.data["incident_id"]))
        assert refused_busy.data["outcome"] == "refused"
        assert any(r.startswith("one_action_per_target:") for r in refused_busy.data["reasons"])

        report = ActionReported(
            action_id=signed.action_id,
            incident_id=signed.incident_id,
            kind=signed.kind,
            target=signed.target,
            status=ReportStatus.VERIFIED,
        )
        await publish(
            broker,
            "executor",
            envelope_for("sre.action.reported.v1", report, source="warden/executor", correlationid=signed.incident_id),
        )
        await handled(app, "action_reports")
        await publish(broker, "planner", after)
        verdict = await one(broker, DECIDED, of_incident(after.data["incident_id"]))
    assert verdict.data["outcome"] == "execute"


async def test_policy_postgres_pending_approval_expires_after_restart(
    broker, tmp_path, approver_pubkey, make_plan, pg_schema
) -> None:
    store_url = f"{POSTGRES_URL}?schema={pg_schema}"
    plan = make_plan(incident_class="elevated_error_rate", kind="rollback_deployment", params={"to_version": "v1"})
    incident = plan.data["incident_id"]
    async with policy(broker, tmp_path / "a", approver_pubkey, policy_store_url=store_url):
        await publish(broker, "planner", plan)
        request = await one(broker, REQUESTED, of_incident(incident))
    assert not await broker.read_all(ESCALATION)

    def an_hour_later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=1)

    # Another data dir: the state that survives is PostgreSQL's, not a local file.
    async with policy(
        broker, tmp_path / "b", approver_pubkey, policy_store_url=store_url, ports=PolicyPorts(clock=an_hour_later)
    ):
        expired = await one(broker, DECIDED, of_incident(incident, outcome="expired"))
        await one(broker, ESCALATION, of_incident(incident))
    assert expired.data["approval_id"] == request.data["approval_id"]


async def test_policy_progressive_autonomy_survives_a_restart(broker, tmp_path, approver_pubkey, make_plan) -> None:
    before, after = (make_plan(incident_class="elevated_error_rate", target=f"svc-{i}") for i in range(2))
    promote = envelope_for(
        "sre.control.changed.v1",
        ControlChanged(
            kind=ControlKind.PLAN_RUN_MODE,
            value="autonomous",
            scope="plan:error-rate",
            changed_by="ops",
            evidence=PromotionEvidence(incidents=5, false_remediation_rate=0.0, human_override_rate=0.0),
        ),
        source="warden/operator",
        correlationid="ops",
    )
    async with policy(broker, tmp_path / "policy", approver_pubkey) as app:
        await publish(broker, "planner", before)
        assert (await one(broker, DECIDED, of_incident(before.data["incident_id"]))).data["outcome"] == "await_approval"
        await publish(broker, "operator", promote)
        await handled(app, "control_changes")
    async with policy(broker, tmp_path / "policy", approver_pubkey):
        await publish(broker, "planner", after)
        decided = await one(broker, DECIDED, of_incident(after.data["incident_id"]))
    assert decided.data["outcome"] == "execute" and decided.data["run_mode"] == "autonomous"
    assert "plan_run_mode: operator set autonomous for plan:error-rate" in decided.data["reasons"]
