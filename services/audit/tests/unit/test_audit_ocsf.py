"""OCSF API Activity events from audit records: activity per operation, people vs services as
users, and the hash chain kept under `unmapped.warden` so an OCSF-only consumer can still verify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warden_audit.domain.attribution import attribute
from warden_audit.domain.chain import GENESIS_HASH, build_record, record_hash
from warden_audit.domain.ocsf import activity_id, epoch_ms
from warden_audit.domain.siem import siem_view

AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def record(topic: str, data: dict[str, Any], source: str = "warden/policy") -> dict[str, Any]:
    envelope = {"id": "m-1", "source": source, "type": topic, "correlationid": "i1", "time": "2026-11-21T09:59:59Z",
                "data": data}
    return build_record(3, GENESIS_HASH, envelope, AT, {"actor": attribute(topic, envelope)})


def test_activities_follow_what_the_step_did() -> None:
    assert activity_id("incident.opened") == 1 and activity_id("incident.resolved") == 3
    assert activity_id("policy.refused") == 1 and activity_id("control.freeze") == 3
    assert activity_id("elevation.deactivated") == 4
    assert activity_id("sre.future.topic.v1") == 99 and activity_id("weird") == 0


def test_a_person_is_a_user_a_service_is_a_system_user() -> None:
    control = siem_view(record("sre.control.changed.v1", {"kind": "freeze", "value": "on", "changed_by": "ops@x"},
                               source="warden/cli/ops"))["ocsf"]
    assert control["actor"]["user"] == {"name": "ops@x", "uid": "ops@x", "type_id": 1, "type": "User"}
    assert control["actor"]["app_name"] == "operator" and control["activity_id"] == 3
    plan = siem_view(record("sre.plan.proposed.v1", {"plan_id": "p1", "runbook": "restart"},
                            source="warden/planner"))["ocsf"]
    assert plan["actor"]["user"]["type_id"] == 3 and plan["resources"] == [{"type": "plan", "uid": "p1",
                                                                            "name": "restart"}]


def test_partial_result_is_status_other_with_the_word_kept() -> None:
    rolled = siem_view(record("sre.action.reported.v1", {"action_id": "a1", "status": "rolled_back", "target": "x"},
                              source="warden/executor"))["ocsf"]
    assert (rolled["status_id"], rolled["status"], rolled["status_detail"]) == (99, "Partial", "rolled_back")
    assert rolled["type_uid"] == 600303 and rolled["severity_id"] == 4


def test_the_chain_survives_in_the_ocsf_event() -> None:
    stored = record("sre.incident.changed.v1", {"incident_id": "i1", "change": "opened", "severity": "Sev2"})
    chain = siem_view(stored)["ocsf"]["unmapped"]["warden"]
    assert chain["record_hash"] == record_hash(stored) == stored["hash"]
    assert (chain["seq"], chain["prev_hash"], chain["message_type"]) == (3, GENESIS_HASH, "sre.incident.changed.v1")
    assert siem_view(stored)["ocsf"]["metadata"]["logged_time"] == epoch_ms(AT)


def test_times_are_epoch_milliseconds() -> None:
    exact = datetime(2026, 11, 21, 9, 59, 59, 123000, tzinfo=UTC)
    assert epoch_ms("2026-11-21T09:59:59.123Z") == int(exact.timestamp()) * 1000 + 123
    assert epoch_ms("not a time") is None and epoch_ms(None) is None
