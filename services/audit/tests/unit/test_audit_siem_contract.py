"""The SIEM stream's contract: every record goes out in the documented ASIM/OCSF shape with the
chain fields a consumer needs to verify it; audit consumes every topic that carries a decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from warden_audit.domain.attribution import attribute
from warden_audit.domain.chain import GENESIS_HASH, build_record, record_hash
from warden_audit.domain.checkpoint import Checkpoint, sign_checkpoint
from warden_audit.handlers import RECORDED_TOPIC, recorded_envelope
from warden_contracts import topology as topo
from warden_contracts.events import AuditRecorded
from warden_testkit.audit import check_for, new_signer

AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
RESULTS = {"Success", "Failure", "Partial", "NA"}
SEVERITIES = {"Informational": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
SIEM_FIELDS = ("actor", "operation", "object", "result", "severity", "severity_id", "class_uid", "time")

# (topic, data, expected operation, result, severity): one representative message per topic.
CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "sre.alert.received.v1",
        {"alert_id": "a1", "rule": "mem", "status": "Fired", "severity": "Sev2"},
        "alert.fired",
        "NA",
        "Medium",
    ),
    (
        "sre.incident.changed.v1",
        {"incident_id": "i1", "change": "opened", "severity": "Sev1", "title": "t"},
        "incident.opened",
        "NA",
        "High",
    ),
    (
        "sre.plan.proposed.v1",
        {"incident_id": "i1", "plan_id": "p1", "runbook": "restart"},
        "plan.proposed",
        "NA",
        "Informational",
    ),
    (
        "sre.approval.requested.v1",
        {"approval_id": "ap1", "tier": 2, "action": {"kind": "rollback", "target": "x"}},
        "approval.requested",
        "NA",
        "Medium",
    ),
    (
        "sre.approval.decided.v1",
        {"approval_id": "ap1", "decision": "approve", "identity_token": "t"},
        "approval.approve",
        "Success",
        "Medium",
    ),
    (
        "sre.policy.decided.v1",
        {"action_id": "ac1", "outcome": "refused", "kind": "restart", "target": "x"},
        "policy.refused",
        "Failure",
        "Medium",
    ),
    (
        "sre.policy.decided.v1",
        {"action_id": "ac1", "outcome": "execute", "kind": "restart", "target": "x"},
        "policy.execute",
        "Success",
        "Low",
    ),
    (
        "sre.action.reported.v1",
        {"action_id": "ac1", "status": "rolled_back", "target": "x"},
        "action.rolled_back",
        "Partial",
        "High",
    ),
    (
        "sre.action.reported.v1",
        {"action_id": "ac1", "status": "verified", "target": "x"},
        "action.verified",
        "Success",
        "Medium",
    ),
    ("sre.escalation.raised.v1", {"incident_id": "i1", "priority": "P1"}, "escalation.raised", "NA", "High"),
    (
        "sre.control.changed.v1",
        {"kind": "kill_switch", "value": "on", "changed_by": "ops"},
        "control.kill_switch",
        "Success",
        "High",
    ),
    (
        "sre.elevation.changed.v1",
        {"grant_id": "g1", "state": "refused", "principal": "executor"},
        "elevation.refused",
        "Failure",
        "High",
    ),
    (
        "sre.deadletter.v1",
        {"service": "policy", "topic": "sre.plan.proposed.v1", "reason": "schema"},
        "message.dead_lettered",
        "Failure",
        "Medium",
    ),
]


def record_for(topic: str, data: dict[str, Any], source: str = "warden/policy") -> dict[str, Any]:
    envelope = {
        "id": f"id-{topic}",
        "source": source,
        "type": topic,
        "correlationid": "i1",
        "time": "2026-11-21T09:59:59Z",
        "data": data,
    }
    return build_record(7, GENESIS_HASH, envelope, AT, {"actor": attribute(topic, envelope)})


@pytest.mark.parametrize(("topic", "data", "operation", "result", "severity"), CASES)
def test_every_topic_maps_to_the_documented_shape(
    topic: str, data: dict[str, Any], operation: str, result: str, severity: str
) -> None:
    record = record_for(topic, data)
    envelope = recorded_envelope(record)
    event = envelope.payload(AuditRecorded)
    assert envelope.type == RECORDED_TOPIC
    assert (event.operation, event.result, event.severity) == (operation, result, severity)
    assert event.severity_id == SEVERITIES[severity] and event.class_uid == 6003
    assert event.result in RESULTS
    assert event.time == datetime(2026, 11, 21, 9, 59, 59, tzinfo=UTC)
    assert event.actor is not None and event.actor["id"] and event.actor["type"] in {"service", "human", "unknown"}
    assert event.object is not None and event.object["type"]
    assert (event.seq, event.prev_hash, event.record_hash) == (7, GENESIS_HASH, record["hash"])


def test_a_consumer_can_recompute_the_hash_from_the_event_alone() -> None:
    record = record_for("sre.incident.changed.v1", {"incident_id": "i1", "change": "opened", "severity": "Sev3"})
    wire = json.loads(recorded_envelope(record).to_bytes())
    carried = wire["data"]["record"]
    assert record_hash(carried) == wire["data"]["record_hash"] == record["hash"]


def test_the_latest_signed_checkpoint_travels_with_each_event() -> None:
    signer = new_signer()
    record = record_for("sre.plan.proposed.v1", {"plan_id": "p"})
    cp = sign_checkpoint(signer, 7, record["hash"], "ab" * 32, AT)
    event = recorded_envelope(record, cp).payload(AuditRecorded)
    assert event.checkpoint is not None and event.checkpoint["seq"] == 7
    assert Checkpoint.from_json(event.checkpoint).is_signed_by(check_for(signer))


def test_human_actor_comes_from_the_principal() -> None:
    record = record_for(
        "sre.control.changed.v1", {"kind": "freeze", "value": "on", "changed_by": "ops@x"}, source="warden/cli/ops"
    )
    actor = recorded_envelope(record).payload(AuditRecorded).actor
    assert actor == {"id": "ops@x", "type": "human", "verified": False, "via": "operator", "basis": "declared"}


def test_oversize_records_go_out_without_the_body() -> None:
    record = record_for("sre.plan.proposed.v1", {"plan_id": "p", "summary": "x" * 200_000})
    event = recorded_envelope(record).payload(AuditRecorded)
    assert event.record is None and event.record_hash == record["hash"]


def test_the_schema_snapshot_documents_the_siem_fields() -> None:
    path = resources.files("warden_contracts").joinpath("schemas", f"{RECORDED_TOPIC}.json")
    schema = json.loads(path.read_text())
    assert set(SIEM_FIELDS) | {"record", "checkpoint", "record_hash", "prev_hash", "seq"} <= set(schema["properties"])
    assert set(schema["required"]) == {
        "seq",
        "record_hash",
        "prev_hash",
        "message_id",
        "message_type",
        "correlationid",
        "producer",
        "recorded_at",
    }


def test_audit_consumes_every_topic_that_is_not_excluded_on_purpose() -> None:
    # Excluded: approved actions (readable only by the elevated executor: the decision to approve
    # is audited via sre.policy.decided.v1), the doorbell (an id only, same decision), and
    # audit's own SIEM stream; elevation tickets (readable only by the elevation service, like the
    # approved action they belong to: the grant, refusal or release is audited via sre.elevation.changed.v1).
    excluded = {"sre.action.approved.v1", "sre.action.pending.v1", "sre.elevation.ticketed.v1", RECORDED_TOPIC}
    consumed = {t.name for t in topo.consumed_by("audit")}
    assert consumed == {t.name for t in topo.TOPICS} - excluded
    assert topo.DEADLETTER_TOPIC in consumed


@pytest.mark.parametrize(("topic", "data", "operation", "result", "severity"), CASES)
def test_every_event_carries_an_ocsf_api_activity_event(
    topic: str, data: dict[str, Any], operation: str, result: str, severity: str
) -> None:
    record = record_for(topic, data)
    ocsf = recorded_envelope(record).payload(AuditRecorded).ocsf
    assert ocsf is not None
    assert (ocsf["class_uid"], ocsf["category_uid"]) == (6003, 6)
    assert ocsf["activity_id"] in {0, 1, 2, 3, 4, 99}
    assert ocsf["type_uid"] == ocsf["class_uid"] * 100 + ocsf["activity_id"]
    assert ocsf["status_id"] == {"Success": 1, "Failure": 2, "Partial": 99, "NA": 0}[result]
    assert ocsf["severity_id"] == SEVERITIES[severity]
    assert ocsf["time"] == int(datetime(2026, 11, 21, 9, 59, 59, tzinfo=UTC).timestamp() * 1000)
    assert ocsf["metadata"]["product"]["name"] == "Warden" and ocsf["metadata"]["product"]["version"]
    assert ocsf["metadata"]["version"].startswith("1.")
    assert ocsf["metadata"]["uid"] == record["message_id"]
    assert ocsf["actor"]["user"]["name"] and ocsf["api"]["operation"] == operation
    chain = ocsf["unmapped"]["warden"]
    assert (chain["seq"], chain["record_hash"], chain["prev_hash"]) == (7, record["hash"], GENESIS_HASH)
