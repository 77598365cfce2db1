"""No incident ends silently: "recovered" is an explicit outcome that closes on Resolved or goes to a
human after the recovery window; security incidents are P1 whatever their severity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import EscalationRaised, IncidentChanged, IncidentState, PlanProposed, Severity
from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.findings import Candidate, Finding
from warden_planner.domain.records import IncidentRecord
from warden_testkit.contracts import incident_payload

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
RECOVERED = Finding(runbook="failed_health_checks@2", summary="recovered: checkout passes its checks", recovered=True)


class Store:
    def __init__(self) -> None:
        self.records: dict[str, IncidentRecord] = {}
        self.processed: set[str] = set()
        self.outbox: list[Envelope] = []

    async def seen(self, message_id: str) -> bool:
        return message_id in self.processed

    async def load(self, incident_id: str) -> IncidentRecord | None:
        record = self.records.get(incident_id)
        return record.model_copy(deep=True) if record else None

    async def controls(self) -> dict[str, str]:
        return {}

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
        self.outbox += outgoing

    async def recovered_open(self) -> list[IncidentRecord]:
        return [r for r in self.records.values() if r.recovered_at and not (r.closed or r.escalated)]


class Scripted:
    def __init__(self, finding: Finding) -> None:
        self.finding = finding

    async def investigate(self, incident: IncidentChanged) -> Finding:
        return self.finding


def incident(
    change: IncidentState = IncidentState.OPENED,
    klass: str = "failed_health_checks",
    severity: Severity = Severity.SEV3,
) -> Envelope:
    payload = incident_payload("inc-9", change=change, incident_class=klass, severity=severity, opened_at=NOW)
    return envelope_for("sre.incident.changed.v1", payload, source="warden/triage", correlationid="corr-9")


def service(store: Store, finding: Finding, clock: list[datetime]) -> PlanningService:
    return PlanningService(
        Scripted(finding), store, default_catalog(), lambda: clock[0], recovery_window=timedelta(minutes=15)
    )


async def test_recovered_is_an_explicit_outcome_on_the_plan_and_in_the_timeline() -> None:
    store, clock = Store(), [NOW]
    await service(store, RECOVERED, clock).on_incident(incident())
    plan = store.outbox[0].payload(PlanProposed)
    assert plan.outcome == "recovered" and plan.actions == []
    record = store.records["inc-9"]
    assert record.recovered_at == NOW and not record.escalated
    assert any("recovered (check 1)" in line and "handed to a human after 15 min" in line for line in record.timeline)


async def test_recovered_then_resolved_closes_with_no_handoff() -> None:
    store, clock = Store(), [NOW]
    svc = service(store, RECOVERED, clock)
    await svc.on_incident(incident())
    await svc.on_incident(incident(IncidentState.RESOLVED))
    clock[0] = NOW + timedelta(hours=1)
    await svc.sweep_recovered()
    assert [e.type for e in store.outbox] == ["sre.plan.proposed.v1"]
    record = store.records["inc-9"]
    assert record.closed and any("planner had found it recovered" in line for line in record.timeline)


async def test_recovered_and_still_open_after_the_window_goes_to_a_human_once() -> None:
    store, clock = Store(), [NOW]
    svc = service(store, RECOVERED, clock)
    await svc.on_incident(incident())
    clock[0] = NOW + timedelta(minutes=14)
    await svc.sweep_recovered()
    assert len(store.outbox) == 1  # inside the window: still waiting for the monitor's Resolved
    clock[0] = NOW + timedelta(minutes=16)
    await svc.sweep_recovered()
    await svc.sweep_recovered()  # idempotent: one handoff however often the sweep runs
    escalations = [e for e in store.outbox if e.type == "sre.escalation.raised.v1"]
    assert len(escalations) == 1
    handoff = escalations[0].payload(EscalationRaised)
    assert handoff.priority == "P3" and "no Resolved from the monitor" in handoff.reason
    assert escalations[0].correlationid == "corr-9" and escalations[0].causationid == store.outbox[0].causationid
    assert store.records["inc-9"].escalated


async def test_a_symptom_seen_again_clears_the_recovery() -> None:
    store, clock = Store(), [NOW]
    planner = Scripted(RECOVERED)
    svc = PlanningService(planner, store, default_catalog(), lambda: clock[0])
    await svc.on_incident(incident())
    assert store.records["inc-9"].recovered_at == NOW
    restart = Candidate(kind="restart_service", target="checkout", rationale="wedged", confidence=0.6)
    planner.finding = Finding(runbook="failed_health_checks@2", summary="failing again", candidates=[restart])
    clock[0] = NOW + timedelta(minutes=20)
    await svc.on_incident(incident(IncidentState.UPDATED))
    record = store.records["inc-9"]
    assert record.recovered_at is None and record.attempt == 1
    await svc.sweep_recovered()  # an incident being acted on is never handed off as "recovered"
    assert [e.type for e in store.outbox] == ["sre.plan.proposed.v1", "sre.plan.proposed.v1"]


async def test_security_incident_is_p1_whatever_the_source_severity() -> None:
    store, clock = Store(), [NOW]
    handoff = Finding(runbook="security_alert@1", summary="s", handoff="security alert: handed to the responder")
    await service(store, handoff, clock).on_incident(incident(klass="security_alert", severity=Severity.SEV4))
    assert store.outbox[0].payload(EscalationRaised).priority == "P1"
    other, clock = Store(), [NOW]
    await service(other, handoff, clock).on_incident(incident(klass="disk_pressure", severity=Severity.SEV4))
    assert other.outbox[0].payload(EscalationRaised).priority == "P2"
