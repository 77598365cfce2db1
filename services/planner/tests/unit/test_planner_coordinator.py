"""Per-incident decisions over in-memory fakes of the planner's own ports (store, planner)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, derived_id, envelope_for
from warden_contracts.events import (
    ActionReported,
    ControlChanged,
    ControlKind,
    EscalationRaised,
    IncidentChanged,
    IncidentState,
    PlanProposed,
    ReportStatus,
    Severity,
)
from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.findings import Candidate, Finding
from warden_planner.domain.records import IncidentRecord
from warden_testkit.contracts import incident_payload

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


class InMemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, IncidentRecord] = {}
        self.processed: set[str] = set()
        self.control: dict[str, str] = {}
        self.outbox: list[Envelope] = []

    async def seen(self, message_id: str) -> bool:
        return message_id in self.processed

    async def load(self, incident_id: str) -> IncidentRecord | None:
        record = self.records.get(incident_id)
        return record.model_copy(deep=True) if record else None

    async def controls(self) -> dict[str, str]:
        return dict(self.control)

    async def commit(
        self,
        message_id: str,
        *,
        record: IncidentRecord | None = None,
        control: tuple[str, str] | None = None,
        outgoing: Sequence[Envelope] = (),
    ) -> None:
        self.processed.add(message_id)
        if record:
            self.records[record.incident_id] = record.model_copy(deep=True)
        if control:
            self.control[control[0]] = control[1]
        self.outbox += outgoing

    async def unsent(self) -> list[Envelope]:
        return list(self.outbox)

    async def mark_sent(self, envelope_id: str) -> None:
        self.outbox = [e for e in self.outbox if e.id != envelope_id]


class ScriptedPlanner:
    """The Planner port returning a fixed finding; counts investigations."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        self.runs = 0

    async def investigate(self, incident: IncidentChanged) -> Finding:
        self.runs += 1
        return self.finding


def leak() -> Finding:
    return Finding(
        runbook="memory_pressure@1",
        summary="checkout leaking",
        hypotheses=["supported: leak (x)"],
        candidates=[
            Candidate(
                kind="scale_service", target="checkout", params={"replicas": 3}, rationale="spread", confidence=0.5
            ),
            Candidate(kind="restart_service", target="checkout", rationale="free", confidence=0.8),
        ],
    )


def incident(change: IncidentState = IncidentState.OPENED, severity: Severity = Severity.SEV2) -> Envelope:
    payload = incident_payload(
        "inc-7", change=change, environment="prod", resource_group="rg", severity=severity, opened_at=NOW
    )
    return envelope_for("sre.incident.changed.v1", payload, source="warden/triage", correlationid="corr-7")


def report(action_id: str, kind: str, status: ReportStatus) -> Envelope:
    payload = ActionReported(
        action_id=action_id,
        incident_id="inc-7",
        kind=kind,
        target="checkout",
        status=status,
        detail="verification timed out",
        evidence={"memory_pct": 93},
    )
    return envelope_for("sre.action.reported.v1", payload, source="warden/executor", correlationid="corr-7")


def service(finding: Finding) -> tuple[PlanningService, InMemoryStore, ScriptedPlanner]:
    store, planner = InMemoryStore(), ScriptedPlanner(finding)
    return PlanningService(planner, store, default_catalog(), lambda: NOW), store, planner


async def test_open_plans_ranked_actions_once_per_message() -> None:
    svc, store, planner = service(leak())
    cause = incident()
    await svc.on_incident(cause)
    await svc.on_incident(cause)  # redelivery
    assert planner.runs == 1 and len(store.outbox) == 1
    plan = store.outbox[0].payload(PlanProposed)
    assert store.outbox[0].id == derived_id(cause.id, "planner/plan")
    assert store.outbox[0].correlationid == "corr-7" and store.outbox[0].causationid == cause.id
    assert [a.kind for a in plan.actions] == ["restart_service", "scale_service"]
    assert plan.actions[0].action_id == derived_id("inc-7", "restart_service/attempt-1")
    assert (plan.environment, plan.resource_group, plan.runbook) == ("prod", "rg", "memory_pressure@1")


async def test_update_does_not_replan_while_outstanding_and_resolve_closes() -> None:
    svc, store, planner = service(leak())
    await svc.on_incident(incident())
    await svc.on_incident(incident(IncidentState.UPDATED))
    await svc.on_incident(incident(IncidentState.RESOLVED))
    await svc.on_incident(incident(IncidentState.UPDATED))
    assert planner.runs == 1 and len(store.outbox) == 1
    assert store.records["inc-7"].closed


async def test_failures_walk_the_ranking_then_escalate_with_what_was_tried() -> None:
    svc, store, _ = service(leak())
    await svc.on_incident(incident(severity=Severity.SEV1))
    first = store.outbox[0].payload(PlanProposed).actions[0]
    await svc.on_report(report(first.action_id, "restart_service", ReportStatus.ROLLED_BACK))
    second = store.outbox[1].payload(PlanProposed)
    assert [a.kind for a in second.actions] == ["scale_service"]
    assert second.actions[0].action_id == derived_id("inc-7", "scale_service/attempt-2")
    assert second.plan_id != store.outbox[0].payload(PlanProposed).plan_id
    await svc.on_report(report(first.action_id, "restart_service", ReportStatus.FAILED))  # stale: ignored
    assert len(store.outbox) == 2
    await svc.on_report(report(second.actions[0].action_id, "scale_service", ReportStatus.FAILED))
    escalation = store.outbox[2].payload(EscalationRaised)
    assert escalation.priority == "P1"
    assert "restart_service, scale_service" in escalation.reason
    assert any(e.tool == "executor_report" for e in escalation.evidence)
    assert any("rolled_back" in line for line in escalation.timeline)
    await svc.on_incident(incident(IncidentState.UPDATED))
    assert len(store.outbox) == 3


async def test_verified_action_closes_the_plan_without_new_proposals() -> None:
    svc, store, _ = service(leak())
    await svc.on_incident(incident())
    first = store.outbox[0].payload(PlanProposed).actions[0]
    await svc.on_report(report(first.action_id, "restart_service", ReportStatus.SUCCEEDED))
    await svc.on_report(report(first.action_id, "restart_service", ReportStatus.VERIFIED))
    await svc.on_report(report(first.action_id, "restart_service", ReportStatus.FAILED))
    assert len(store.outbox) == 1 and not store.records["inc-7"].outstanding


async def test_nothing_valid_left_escalates_p2_with_reasons() -> None:
    denied = Finding(
        runbook="memory_pressure@1",
        summary="leak",
        candidates=[
            Candidate(kind="scale_service", target="checkout", params={"replicas": 40}, rationale="r", confidence=0.9)
        ],
    )
    svc, store, _ = service(denied)
    await svc.on_incident(incident())
    escalation = store.outbox[0].payload(EscalationRaised)
    assert escalation.priority == "P2" and "above the maximum" in escalation.reason


async def test_kill_switch_marks_proposals_advisory() -> None:
    svc, store, _ = service(leak())
    control = ControlChanged(kind=ControlKind.KILL_SWITCH, value="on", changed_by="oncall")
    await svc.on_control(envelope_for("sre.control.changed.v1", control, source="operator", correlationid="c"))
    await svc.on_incident(incident())
    plan = store.outbox[0].payload(PlanProposed)
    assert plan.summary.startswith("[advisory: kill switch on] ") and plan.actions


async def test_invisible_symptom_is_rechecked_without_spending_attempts_then_handed_off() -> None:
    clock = [NOW]
    store = InMemoryStore()
    planner = ScriptedPlanner(Finding(runbook="memory_pressure@1", summary="recovered: memory 60%", recovered=True))
    svc = PlanningService(planner, store, default_catalog(), lambda: clock[0])
    await svc.on_incident(incident())
    for minute in (1, 2, 3):
        clock[0] = NOW + timedelta(minutes=minute)
        await svc.on_incident(incident(IncidentState.UPDATED))
    plans = [e.payload(PlanProposed) for e in store.outbox]
    assert len(plans) == 4 and all(p.actions == [] for p in plans) and len({p.plan_id for p in plans}) == 4
    assert store.records["inc-7"].attempt == 0
    planner.finding = leak()  # the metric caught up with the alert: a real plan, attempt 1
    await svc.on_incident(incident(IncidentState.UPDATED))
    assert [a.kind for a in store.outbox[-1].payload(PlanProposed).actions] == ["restart_service", "scale_service"]
    assert store.records["inc-7"].attempt == 1

    quiet = InMemoryStore()
    svc = PlanningService(
        ScriptedPlanner(Finding(runbook="memory_pressure@1", summary="recovered", recovered=True)),
        quiet,
        default_catalog(),
        lambda: clock[0],
    )
    await svc.on_incident(incident())
    clock[0] += timedelta(minutes=11)
    await svc.on_incident(incident(IncidentState.UPDATED))
    escalation = quiet.outbox[-1].payload(EscalationRaised)
    assert "no symptom" in escalation.reason and escalation.runbook == "memory_pressure@1"


async def test_an_unmapped_incident_is_handed_off_at_once_with_the_snippet_and_no_probe() -> None:
    from warden_contracts.events import UNMAPPED_RESOURCE

    snippet = (
        f"{UNMAPPED_RESOURCE} (environment unknown: no autonomous action until it is mapped):\n"
        "services:\n  - name: ghost-api\n    environment: prod\n"
    )
    svc, store, planner = service(leak())
    payload = incident_payload("inc-9", service="ghost-api", environment="unknown", notes=[snippet], opened_at=NOW)
    await svc.on_incident(envelope_for("sre.incident.changed.v1", payload, source="warden/triage", correlationid="c9"))
    assert planner.runs == 0  # no observer was asked about a service the estate does not know
    [message] = store.outbox
    handoff = message.payload(EscalationRaised)
    assert handoff.incident_id == "inc-9" and handoff.runbook == "memory_pressure@1"
    assert UNMAPPED_RESOURCE in handoff.why_stopped and "  - name: ghost-api" in handoff.why_stopped
    assert store.records["inc-9"].escalated
