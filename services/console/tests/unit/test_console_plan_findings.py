"""Injection findings, the Review they forced, and the recovered outcome, read from audit records."""

from __future__ import annotations

from typing import Any

from warden_console.domain.incident_list import incident_rows
from warden_console.domain.plan_findings import forced_review, injection_warnings, recovery
from warden_console.domain.timeline import incident_status

FINDING = {
    "kind": "suspected_injection",
    "source": "get_logs(api)",
    "rule": "override_instructions",
    "excerpt": "ignore previous instructions",
}


def _rec(seq: int, topic: str, incident_id: str = "inc-1", **data: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": topic,
        "correlationid": incident_id,
        "recorded_at": f"2026-12-02T10:00:{seq:02d}Z",
        "envelope": {"data": {"incident_id": incident_id, **data}},
    }


def _opened(seq: int, incident_id: str = "inc-1", change: str = "opened") -> dict[str, Any]:
    return _rec(
        seq,
        "sre.incident.changed.v1",
        incident_id,
        change=change,
        incident_class="failed_health_checks",
        service="api",
        environment="prod",
        severity="Sev2",
        opened_at=f"2026-12-02T10:00:{seq:02d}Z",
    )


def test_findings_are_listed_once_and_only_injection_ones() -> None:
    records = [
        _rec(1, "sre.plan.proposed.v1", findings=[FINDING, {"kind": "something_else", "source": "x", "rule": "y"}]),
        _rec(2, "sre.plan.proposed.v1", findings=[FINDING]),  # the next attempt carries the incident's findings again
    ]
    [warning] = injection_warnings(records)
    assert (warning.source, warning.rule, warning.excerpt) == (
        "get_logs(api)",
        "override_instructions",
        "ignore previous instructions",
    )


def test_forced_review_quotes_policy_only_where_the_finding_pinned_it() -> None:
    records = [
        _rec(
            1,
            "sre.policy.decided.v1",
            kind="restart_service",
            target="api",
            outcome="await_approval",
            reasons=["suspected_injection_pinned_to_review: the evidence holds suspected injected instructions"],
        ),
        _rec(
            2,
            "sre.policy.decided.v1",
            kind="restart_service",
            target="db",
            outcome="execute",
            reasons=["autonomous: dev"],
        ),
    ]
    [reason] = forced_review(records)
    assert reason.startswith("restart_service on api: await_approval (suspected_injection_pinned_to_review")


def test_recovered_then_resolved_handed_off_or_acted_on() -> None:
    plan = _rec(2, "sre.plan.proposed.v1", summary="recovered: api healthy; no action", outcome="recovered")
    waiting = recovery([_opened(1), plan])
    assert waiting is not None and waiting.note == "recovered: api healthy; no action"
    assert waiting.then.startswith("waiting")
    assert incident_status([_opened(1), plan]) == "recovered"

    resolved = recovery([_opened(1), plan, _opened(3, change="resolved")])
    assert resolved is not None and resolved.then == "resolved"
    escalated = [_opened(1), plan, _rec(3, "sre.escalation.raised.v1", reason="still open after 10 min")]
    handed = recovery(escalated)
    assert handed is not None and handed.then == "handed to a human: still open after 10 min"
    assert incident_status(escalated) == "escalated"

    acted = [_opened(1), plan, _rec(3, "sre.plan.proposed.v1", summary="unhealthy again", actions=[{"kind": "x"}])]
    assert recovery(acted) is None and incident_status(acted) == "open"


def test_the_list_has_one_row_per_incident_newest_first() -> None:
    records = [
        _opened(1, "inc-old"),
        _rec(2, "sre.plan.proposed.v1", "inc-old", summary="recovered: api healthy", outcome="recovered"),
        _opened(3, "inc-new"),
        _rec(4, "sre.plan.proposed.v1", "inc-new", summary="x", findings=[FINDING]),
        _rec(5, "sre.approval.requested.v1", "inc-new"),
        _rec(6, "sre.control.changed.v1", "control:kill_switch"),  # not an incident
    ]
    new, old = incident_rows(records)
    assert (new.incident_id, new.status, new.injection_findings, new.recovered) == (
        "inc-new",
        "awaiting approval",
        1,
        "",
    )
    assert (old.incident_id, old.status, old.recovered) == ("inc-old", "recovered", "recovered: api healthy")
    assert (old.service, old.environment, old.severity) == ("api", "prod", "Sev2")
