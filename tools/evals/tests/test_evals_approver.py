"""The scripted approver's hold: with `wait_for_gate` it answers nothing until the incident under
test (its service and class) has been gated, whatever other incident asked first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warden_eval.observed import Observed
from warden_eval.runner import _gated

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def record(topic: str, seconds: float, **data: Any) -> dict[str, Any]:
    time = (START + timedelta(seconds=seconds)).isoformat()
    return {"type": topic, "envelope": {"time": time, "data": data}}


def opened(incident_id: str, incident_class: str, seconds: float) -> dict[str, Any]:
    return record(
        "sre.incident.changed.v1",
        seconds,
        incident_id=incident_id,
        service="checkout-api",
        incident_class=incident_class,
    )


ERRORS_ASK = [
    opened("inc-errors", "elevated_error_rate", 0.3),
    record("sre.policy.decided.v1", 0.6, incident_id="inc-errors", outcome="await_approval"),
    record("sre.approval.requested.v1", 0.6, incident_id="inc-errors", approval_id="apr-1"),
]


def observed(*records: dict[str, Any]) -> Observed:
    return Observed.since(list(records), START, "checkout-api", "high_latency")


def test_another_incidents_request_is_held_until_the_incident_under_test_is_gated() -> None:
    before = observed(*ERRORS_ASK)
    assert [r["approval_id"] for r in before.pending_approvals()] == ["apr-1"]
    assert before.primary()["incident_id"] == "inc-errors"  # the fallback the hold must not use
    assert not _gated(before)
    assert not _gated(observed(*ERRORS_ASK, opened("inc-latency", "high_latency", 1.1)))
    covered = record("sre.policy.decided.v1", 1.3, incident_id="inc-latency", outcome="refused")
    assert _gated(observed(*ERRORS_ASK, opened("inc-latency", "high_latency", 1.1), covered))


def test_an_incident_handed_off_without_a_decision_counts_as_gated() -> None:
    handoff = record("sre.escalation.raised.v1", 1.3, incident_id="inc-latency", reason="unmapped")
    assert _gated(observed(*ERRORS_ASK, opened("inc-latency", "high_latency", 1.1), handoff))
