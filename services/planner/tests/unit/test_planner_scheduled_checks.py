"""The scheduled checks read numbers only; untrusted or missing fields are reported, never guessed."""

from __future__ import annotations

from warden_planner.domain.scheduled_checks import cert_expiry, cost, health, summarise


def test_missing_and_non_numeric_fields_are_reported() -> None:
    views = [{"name": "odd", "healthy": True, "memory_pct": "99", "error_rate": None}, {"memory_pct": 10}]
    first, unnamed = health(views, {})
    assert first.severity == "warning"
    # A bool is not a number and text is not a number: both are reported as missing.
    assert "no value for" in first.summary and "healthy" in first.summary and "memory_pct" in first.summary
    assert unnamed.subject == "<unnamed>"


def test_thresholds_come_from_params() -> None:
    view = {"name": "a", "healthy": 1, "memory_pct": 70, "error_rate": 0, "disk_pct": 1, "queue_depth": 0}
    assert health([view | {"cert_days_left": 90}], {})[0].severity == "ok"
    assert health([view | {"cert_days_left": 90}], {"memory_pct": 60})[0].summary == "memory_pct 70 over 60"
    [expiring] = cert_expiry([{"name": "a", "cert_days_left": 5}], {"threshold_days": 10})
    assert expiring.severity == "critical" and "renew" in expiring.summary
    [idle] = cost([{"name": "a", "replicas": 3, "memory_pct": 10}], {"idle_memory_pct": 20})
    assert idle.severity == "info"
    assert summarise("cost_report", [idle]) == "cost report over 1 service(s): 1 info"
