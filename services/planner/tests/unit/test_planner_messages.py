"""Outgoing messages: explanation fields, the handoff package, and the size budget of the bus."""

from __future__ import annotations

from datetime import UTC, datetime

from warden_contracts.envelope import envelope_for
from warden_contracts.events import EscalationRaised, Evidence, Severity
from warden_planner.domain.messages import MAX_PAYLOAD_BYTES, escalation_message
from warden_planner.domain.records import IncidentRecord
from warden_testkit.contracts import incident_payload

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


def cause() -> object:
    incident = incident_payload("inc-big", incident_class="unknown", severity=Severity.SEV1, opened_at=NOW)
    return envelope_for("sre.incident.changed.v1", incident, source="t", correlationid="inc-big")


def test_huge_evidence_is_trimmed_oldest_first_to_fit_the_bus() -> None:
    lines = ["x" * 1000] * 50
    evidence = [
        Evidence(
            tool="get_logs",
            params={"name": "checkout", "n": i},
            result={"lines": lines},
            observed_at=NOW,
            ref=f"ev-{i}",
        )
        for i in range(30)
    ]
    view = Evidence(
        tool="get_service", params={"name": "checkout"}, result={"memory_pct": 97}, observed_at=NOW, ref="ev-view"
    )
    owner = Evidence(
        tool="get_owner", params={"name": "checkout"}, result={"owner": "team-a"}, observed_at=NOW, ref="ev-o"
    )
    record = IncidentRecord(
        incident_id="inc-big",
        correlationid="inc-big",
        incident_class="unknown",
        severity="Sev1",
        environment="dev",
        target="checkout",
        runbook="handoff@1",
        summary="no runbook",
        evidence=[owner, view, *evidence],
        trace=["turn 1: get_logs"] * 200,
        tried=["restart_service"],
        timeline=["opened"],
    )
    envelope = escalation_message(cause(), record, "no runbook for incident class 'unknown'")  # type: ignore[arg-type]
    payload = envelope.payload(EscalationRaised)
    assert len(payload.model_dump_json()) <= MAX_PAYLOAD_BYTES
    assert payload.evidence and payload.evidence[-1].ref == "ev-29"  # the newest evidence survives
    # The handoff package is computed from the full record, before trimming.
    assert payload.owner == "team-a" and payload.telemetry["service"] == {"memory_pct": 97}
    assert payload.tried == ["restart_service"] and payload.why_stopped.startswith("no runbook")
