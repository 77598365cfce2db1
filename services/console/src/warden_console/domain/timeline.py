"""An incident's story for a human, from its audit records (the system of record).

Records are the audit log's JSON records (`seq`, `type`, `recorded_at`, `correlationid`,
`envelope`); anything unknown is shown by its type rather than dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from warden_console.domain.approvals import Outcome, outcome_from_decision

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    text: str
    kind: str
    reason: str = ""  # why: policy's reasons, the approver's words, the executor's detail


def _data(record: Record) -> Mapping[str, Any]:
    envelope = record.get("envelope") or {}
    data = envelope.get("data") if isinstance(envelope, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _plan(d: Mapping[str, Any]) -> str:
    actions = ", ".join(f"{a.get('kind')} on {a.get('target')}" for a in d.get("actions", []))
    return f"{d.get('runbook')}: {d.get('summary')} — proposes {actions or 'nothing'}"


def _decision(d: Mapping[str, Any]) -> str:
    outcome = str(d.get("outcome", "")).upper()
    return f"{d.get('kind')} tier {d.get('tier')} ({d.get('run_mode')}) → {outcome}"


def _reason(kind: str, d: Mapping[str, Any]) -> str:
    if kind == "sre.policy.decided.v1":
        return "; ".join(str(r) for r in d.get("reasons", []))
    if kind in {"sre.approval.decided.v1", "sre.escalation.raised.v1", "sre.control.changed.v1"}:
        return str(d.get("reason") or "")
    if kind == "sre.action.reported.v1":
        return str(d.get("detail") or "")
    return ""


_DESCRIBE: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "sre.alert.received.v1": ("alert", lambda d: f"{d.get('status')} “{d.get('rule')}” ({d.get('severity')})"),
    "sre.incident.changed.v1": (
        "triage",
        lambda d: f"incident {d.get('change')}: {d.get('incident_class')} ({d.get('alert_count')} alert(s))",
    ),
    "sre.plan.proposed.v1": ("planner", _plan),
    "sre.policy.decided.v1": ("policy", _decision),
    "sre.approval.requested.v1": (
        "policy",
        lambda d: f"approval requested for {d.get('action', {}).get('kind')} (tier {d.get('tier')})",
    ),
    "sre.approval.decided.v1": (
        "approver",
        lambda d: f"{d.get('decision')} via {d.get('channel')}",
    ),
    "sre.action.reported.v1": (
        "executor",
        lambda d: f"{d.get('kind')} on {d.get('target')}: {str(d.get('status', '')).upper()}",
    ),
    "sre.elevation.changed.v1": ("elevation", lambda d: f"{d.get('state')} for {d.get('principal')}"),
    "sre.escalation.raised.v1": ("escalation", lambda d: f"{d.get('priority')} escalation"),
    "sre.control.changed.v1": ("operator", lambda d: f"{d.get('kind')} = {d.get('value')} by {d.get('changed_by')}"),
}


def entry(record: Record) -> Entry:
    kind = str(record.get("type", ""))
    actor, describe = _DESCRIBE.get(kind, (kind.split(".")[1] if kind.count(".") > 1 else "other", lambda d: kind))
    try:
        text, reason = describe(_data(record)).strip(), _reason(kind, _data(record)).strip()
    except (AttributeError, TypeError):
        text, reason = kind, ""  # a record written by a newer producer: show it, do not fail the page
    return Entry(int(record.get("seq", 0)), str(record.get("recorded_at", "")), _who(record, actor), text, kind, reason)


def _who(record: Record, actor: str) -> str:
    """The verified person behind a record (an approver), else the service that wrote it."""
    found = record.get("actor")
    principal = found.get("principal") if isinstance(found, Mapping) else None
    person = principal.get("id") if isinstance(principal, Mapping) else None
    return f"{actor} {person}" if isinstance(person, str) and person else actor


def timeline(records: Iterable[Record]) -> list[Entry]:
    return [entry(r) for r in sorted(records, key=lambda r: int(r.get("seq", 0)))]


def outcomes(records: Iterable[Record]) -> dict[str, Outcome]:
    """Approval id → its final outcome, from policy's decisions."""
    found: dict[str, Outcome] = {}
    notes: dict[str, list[str]] = {}
    for record in records:
        data = _data(record)
        if record.get("type") == "sre.approval.decided.v1" and data.get("approval_id") and data.get("reason"):
            notes.setdefault(str(data["approval_id"]), []).append(str(data["reason"]))
        if record.get("type") != "sre.policy.decided.v1":
            continue
        outcome = outcome_from_decision(data)
        if outcome and data.get("approval_id"):
            found[str(data["approval_id"])] = replace(outcome, at=str(record.get("recorded_at") or ""))
    return {key: replace(o, notes=tuple(notes.get(key, ()))) for key, o in found.items()}


def incident_status(records: Iterable[Record]) -> str:
    """Where the incident stands, in one word an approver understands at a glance."""
    status = "open"
    for record in sorted(records, key=lambda r: int(r.get("seq", 0))):
        kind, data = record.get("type"), _data(record)
        if kind == "sre.incident.changed.v1" and data.get("change") == "resolved":
            return "resolved"
        if kind == "sre.plan.proposed.v1":
            # "recovered": the symptom was gone, nothing to do, waits for the monitor's Resolved;
            # a later plan (the symptom is back) reopens it.
            recovered = data.get("outcome") == "recovered"
            status = "recovered" if recovered else ("open" if status == "recovered" else status)
        elif kind == "sre.approval.requested.v1":
            status = "awaiting approval"
        elif kind == "sre.policy.decided.v1" and data.get("outcome") in {"denied", "expired", "handoff", "refused"}:
            status = str(data["outcome"])
        elif kind == "sre.action.reported.v1":
            status = {"started": "executing", "succeeded": "executed", "verified": "verified"}.get(
                str(data.get("status")), str(data.get("status"))
            )
        elif kind == "sre.escalation.raised.v1":
            status = "escalated"
    return status


def approvals_so_far(records: Iterable[Record]) -> dict[str, tuple[str, ...]]:
    """Approval id → who has approved it while it still waits for more (M-of-N), per policy."""
    found: dict[str, tuple[str, ...]] = {}
    for record in sorted(records, key=lambda r: int(r.get("seq", 0))):
        data = _data(record)
        waiting = data.get("outcome") == "await_approval" and data.get("approvers") and data.get("approval_id")
        if record.get("type") == "sre.policy.decided.v1" and waiting:
            found[str(data["approval_id"])] = tuple(str(a) for a in data["approvers"])
    return found
