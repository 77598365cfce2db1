"""The read models `warden_audit.api` answers the CLI with, over records built here."""

from __future__ import annotations

from typing import Any

from warden_audit.domain.approval_requests import approval_requests, find_request, is_ambiguous
from warden_audit.domain.incident_views import incidents_from
from warden_audit.domain.plan_evidence import evidence
from warden_audit.domain.task_reports import task_reports

_seq = iter(range(1, 10_000))


def record(topic: str, data: dict[str, Any], correlationid: str, time: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    env = {"type": topic, "correlationid": correlationid, "time": time, "data": data, "id": f"id-{topic}-{data}"}
    return {"seq": next(_seq), "type": topic, "correlationid": correlationid, "envelope": env}


def incident(incident_id: str, change: str, alerts: list[str]) -> dict[str, Any]:
    data = {"incident_id": incident_id, "change": change, "incident_class": "memory_pressure"}
    return record("sre.incident.changed.v1", data | {"environment": "dev", "alert_ids": alerts}, incident_id)


def test_an_incident_gathers_its_alerts_and_a_resolution_wins() -> None:
    records = [
        record("sre.alert.received.v1", {"alert_id": "a1"}, "alert:a1"),
        record("sre.alert.received.v1", {"alert_id": "other"}, "alert:other"),
        incident("inc-1", "opened", ["a1"]),
        incident("inc-1", "resolved", ["a1"]),
    ]
    view = incidents_from(records)["inc-1"]
    assert view.state == "resolved"
    assert [r["correlationid"] for r in view.ordered()] == ["alert:a1", "inc-1", "inc-1"]


def test_a_recovered_plan_marks_an_open_incident_recovered() -> None:
    plan = {"outcome": "recovered", "summary": "memory back to normal", "actions": []}
    records = [incident("inc-2", "opened", []), record("sre.plan.proposed.v1", plan, "inc-2")]
    view = incidents_from(records)["inc-2"]
    assert (view.state, view.recovered) == ("recovered", "memory back to normal")


def test_approval_requests_follow_policy_and_a_unique_prefix_finds_one() -> None:
    records = [
        record("sre.approval.requested.v1", {"approval_id": "ap-123456-a"}, "inc-3"),
        record("sre.approval.requested.v1", {"approval_id": "ap-123456-b"}, "inc-3"),
        record("sre.policy.decided.v1", {"approval_id": "ap-123456-a", "outcome": "approved"}, "inc-3"),
    ]
    found = approval_requests(records)
    assert {k: v["state"] for k, v in found.items()} == {"ap-123456-a": "approved", "ap-123456-b": "pending"}
    assert find_request(found, "ap-123456-b") == ("ap-123456-b", found["ap-123456-b"])
    assert find_request(found, "ap-123456") is None and is_ambiguous(found, "ap-123456")
    assert find_request(found, "ap-1") is None and not is_ambiguous(found, "ap-1")  # too short to be a prefix


def test_task_reports_of_one_task() -> None:
    records = [
        record("sre.task.reported.v1", {"task": "health", "status": "ok"}, "task:health"),
        record("sre.task.reported.v1", {"task": "cost", "status": "ok"}, "task:cost"),
    ]
    assert task_reports(records, "cost") == [{"task": "cost", "status": "ok"}]
    assert len(task_reports(records)) == 2


def test_a_plans_mode_is_its_newest_control_else_the_configured_one() -> None:
    control = {"kind": "plan_run_mode", "value": "autonomous", "scope": "plan:p1", "changed_by": "alice"}
    records = [record("sre.control.changed.v1", control, "control:plan:p1")]
    assert evidence(records, "p1", {"p1": "review"}).mode == "autonomous"
    assert evidence(records, "p1", {"p1": "review"}).origin.startswith("set by alice at ")
    assert (evidence([], "p1", {"p1": "shadow"}).mode, evidence([], "p1", {"p1": "shadow"}).origin) == (
        "shadow",
        "configured",
    )
    assert (evidence([], "p9", {}).mode, evidence([], "p9", {}).origin) == ("review", "agent default")
