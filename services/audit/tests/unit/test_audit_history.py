"""Approval and action histories by incident, approver and time range, from records alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warden_audit.domain.attribution import attribute
from warden_audit.domain.chain import GENESIS_HASH, build_record
from warden_audit.history import Window, action_history, approval_history

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def records() -> list[dict[str, Any]]:
    def rec(seq: int, topic: str, data: dict[str, Any], approver: str | None = None) -> dict[str, Any]:
        envelope = {
            "id": f"m{seq}",
            "source": "warden/policy",
            "type": topic,
            "correlationid": data["incident_id"],
            "data": data,
        }
        actor = attribute(topic, envelope)
        if approver:
            actor["principal"] = {
                "id": approver,
                "kind": "human",
                "verified": True,
                "groups": ["leads"],
                "issuer": "urn:warden:local-issuer",
                "token_id": "j",
            }
        return build_record(seq, GENESIS_HASH, envelope, T0 + timedelta(minutes=seq), {"actor": actor})

    action = {"action_id": "a1", "kind": "rollback_deployment", "target": "payments-api", "params": {"to": "v1"}}
    return [
        rec(1, "sre.approval.requested.v1", {"approval_id": "ap1", "incident_id": "i1", "action": action, "tier": 2}),
        rec(
            2,
            "sre.policy.decided.v1",
            {
                "incident_id": "i1",
                "action_id": "a1",
                "outcome": "await_approval",
                "kind": "rollback_deployment",
                "target": "payments-api",
                "approval_id": "ap1",
            },
        ),
        rec(
            3,
            "sre.approval.decided.v1",
            {"incident_id": "i1", "approval_id": "ap1", "decision": "approve", "channel": "cli"},
            approver="alice",
        ),
        rec(
            4,
            "sre.policy.decided.v1",
            {
                "incident_id": "i1",
                "action_id": "a1",
                "outcome": "approved",
                "kind": "rollback_deployment",
                "target": "payments-api",
                "approval_id": "ap1",
                "approvers": ["alice"],
            },
        ),
        rec(
            5,
            "sre.action.reported.v1",
            {
                "incident_id": "i1",
                "action_id": "a1",
                "status": "succeeded",
                "kind": "rollback_deployment",
                "target": "payments-api",
            },
        ),
        rec(
            6,
            "sre.approval.requested.v1",
            {"approval_id": "ap2", "incident_id": "i2", "tier": 1, "action": {**action, "action_id": "a2"}},
        ),
        rec(
            7,
            "sre.policy.decided.v1",
            {"incident_id": "i2", "action_id": "a2", "outcome": "expired", "approval_id": "ap2"},
        ),
    ]


def test_approval_history_has_request_decision_approver_and_outcome() -> None:
    [first, second] = approval_history(records())
    assert (first["approval_id"], first["state"], first["approvers"]) == ("ap1", "approved", ["alice"])
    [decision] = first["decisions"]
    assert decision["approver"]["id"] == "alice" and decision["approver"]["verified"]
    assert (decision["decision"], decision["seq"]) == ("approve", 3)
    assert first["seqs"] == [1, 2, 3, 4]
    assert (second["approval_id"], second["state"], second["decisions"]) == ("ap2", "expired", [])


def test_approvals_filter_by_incident_approver_and_time() -> None:
    assert [a["approval_id"] for a in approval_history(records(), Window(incident="i2"))] == ["ap2"]
    assert [a["approval_id"] for a in approval_history(records(), Window(approver="alice"))] == ["ap1"]
    assert approval_history(records(), Window(approver="bob")) == []
    later = Window(since=T0 + timedelta(minutes=5))
    assert [a["approval_id"] for a in approval_history(records(), later)] == ["ap2"]
    earlier = Window(until=T0 + timedelta(minutes=5))
    assert [a["approval_id"] for a in approval_history(records(), earlier)] == ["ap1"]


def test_action_history_by_incident_and_approver() -> None:
    [a1] = action_history(records(), Window(incident="i1"))
    assert [d["outcome"] for d in a1["decisions"]] == ["await_approval", "approved"]
    assert [r["status"] for r in a1["reports"]] == ["succeeded"]
    assert [a["action_id"] for a in action_history(records(), Window(approver="alice"))] == ["a1"]
    assert [a["action_id"] for a in action_history(records())] == ["a1", "a2"]
