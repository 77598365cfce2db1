"""Approval records <-> table rows, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from warden_contracts.events import Evidence, ProposedAction

from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.model import RunMode

COLUMNS = (
    "approval_id, incident_id, correlationid, request_message_id, action, action_hash, tier, environment, "
    "run_mode, requested_by, summary, evidence, state, requested_at, expires_at, decided_by, reason, version, "
    "resource_group, incident_class, scheduled_task, proposal_chain, approvals_required, approved_by"
)


def _time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def approval_from_row(row: Mapping[str, Any]) -> Approval:
    return Approval(
        approval_id=row["approval_id"],
        incident_id=row["incident_id"],
        correlationid=row["correlationid"],
        request_message_id=row["request_message_id"],
        action=ProposedAction.model_validate_json(row["action"]),
        action_hash=row["action_hash"],
        tier=row["tier"],
        environment=row["environment"],
        run_mode=RunMode(row["run_mode"]),
        requested_by=row["requested_by"],
        summary=row["summary"],
        evidence=[Evidence.model_validate(e) for e in json.loads(row["evidence"])],
        state=ApprovalState(row["state"]),
        requested_at=_time(row["requested_at"]),
        expires_at=_time(row["expires_at"]),
        decided_by=row["decided_by"],
        reason=row["reason"],
        version=row["version"],
        resource_group=row["resource_group"],
        incident_class=row["incident_class"],
        scheduled_task=row["scheduled_task"],
        proposal_chain=tuple(json.loads(row["proposal_chain"])),
        approvals_required=row["approvals_required"],
        **_approved_by(row["approved_by"]),
    )


def approved_by_json(a: Approval) -> str:
    """The approvers with their identity-token hashes, in one column (no schema change needed)."""
    return json.dumps([{"id": p.approver, "token_sha256": p.token_sha256} for p in a.proofs()])


def _approved_by(raw: str) -> dict[str, tuple[str, ...]]:
    """Reads both the older list of ids and the list of {id, token_sha256}."""
    entries = json.loads(raw)
    ids = tuple(e["id"] if isinstance(e, dict) else str(e) for e in entries)
    tokens = tuple(str(e.get("token_sha256", "")) if isinstance(e, dict) else "" for e in entries)
    return {"approved_by": ids, "approval_tokens": tokens}


def approval_values(a: Approval, at: Callable[[datetime], object]) -> tuple[object, ...]:
    """Values in COLUMNS order; `at` renders a timestamp the way the store compares them."""
    return (
        a.approval_id,
        a.incident_id,
        a.correlationid,
        a.request_message_id,
        a.action.model_dump_json(),
        a.action_hash,
        a.tier,
        a.environment,
        a.run_mode.value,
        a.requested_by,
        a.summary,
        json.dumps([e.model_dump(mode="json") for e in a.evidence]),
        a.state.value,
        at(a.requested_at),
        at(a.expires_at),
        a.decided_by,
        a.reason,
        a.version,
        a.resource_group,
        a.incident_class,
        a.scheduled_task,
        json.dumps(list(a.proposal_chain)),
        a.approvals_required,
        approved_by_json(a),
    )
