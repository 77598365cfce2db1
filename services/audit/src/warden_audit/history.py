"""Approval and action histories rebuilt from records: what the approvals query API answers.

Pure functions over records (as `read_records` yields them), filtered by incident, approver and a
`recorded_at` time range. Approver identity comes from the record's `actor.principal` (the token's
subject, with `verified` saying whether audit checked the signature) and from policy's decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

REQUESTED = "sre.approval.requested.v1"
DECIDED = "sre.approval.decided.v1"
POLICY = "sre.policy.decided.v1"
REPORTED = "sre.action.reported.v1"
FINAL_APPROVAL_STATES = {"approved", "denied", "expired", "superseded", "rejected_approval"}


@dataclass(frozen=True)
class Window:
    incident: str | None = None
    approver: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def admits_time(self, record: Mapping[str, Any]) -> bool:
        at = datetime.fromisoformat(str(record["recorded_at"]).replace("Z", "+00:00"))
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


def _data(record: Mapping[str, Any]) -> dict[str, Any]:
    return dict((record.get("envelope") or {}).get("data") or {})


def _approver(record: Mapping[str, Any]) -> dict[str, Any]:
    principal = (record.get("actor") or {}).get("principal") or {}
    return {
        "id": principal.get("id"),
        "verified": bool(principal.get("verified")),
        "groups": principal.get("groups", []),
        "issuer": principal.get("issuer"),
    }


def approval_history(records: Iterable[Mapping[str, Any]], window: Window = Window()) -> list[dict[str, Any]]:
    """One entry per approval request: the request, every decision with its approver, the outcome."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        kind, data = record.get("type"), _data(record)
        approval_id = data.get("approval_id")
        if kind == REQUESTED and approval_id:
            action = data.get("action") or {}
            found[approval_id] = {
                "approval_id": approval_id,
                "incident_id": data.get("incident_id"),
                "action": {k: action.get(k) for k in ("action_id", "kind", "target", "params")},
                "tier": data.get("tier"),
                "environment": data.get("environment"),
                "requested_at": record["recorded_at"],
                "expires_at": data.get("expires_at"),
                "state": "pending",
                "decisions": [],
                "approvers": [],
                "seqs": [record["seq"]],
                "_in_window": window.admits_time(record),
            }
        elif approval_id in found and kind == DECIDED:
            entry = found[approval_id]
            entry["decisions"].append(
                {
                    "decision": data.get("decision"),
                    "approver": _approver(record),
                    "channel": data.get("channel"),
                    "at": record["recorded_at"],
                    "seq": record["seq"],
                }
            )
            entry["seqs"].append(record["seq"])
        elif approval_id in found and kind == POLICY:
            entry = found[approval_id]
            entry["seqs"].append(record["seq"])
            if data.get("outcome") in FINAL_APPROVAL_STATES:
                entry |= {"state": data["outcome"], "decided_at": record["recorded_at"]}
                entry["approvers"] = list(data.get("approvers") or [])
                entry["reasons"] = list(data.get("reasons") or [])
    return [_public(e) for e in found.values() if _admits(e, window)]


def _admits(entry: Mapping[str, Any], window: Window) -> bool:
    if window.incident is not None and entry["incident_id"] != window.incident:
        return False
    if window.approver is not None:
        ids = {d["approver"]["id"] for d in entry["decisions"]} | set(entry["approvers"])
        if window.approver not in ids:
            return False
    return bool(entry["_in_window"])


def _public(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def action_history(records: Iterable[Mapping[str, Any]], window: Window = Window()) -> list[dict[str, Any]]:
    """One entry per action: every gate decision and every execution report, in order."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        kind, data = record.get("type"), _data(record)
        action_id = data.get("action_id")
        if kind not in (POLICY, REPORTED) or not action_id:
            continue
        if window.incident is not None and data.get("incident_id") != window.incident:
            continue
        if not window.admits_time(record):
            continue
        entry = found.setdefault(
            action_id,
            {
                "action_id": action_id,
                "incident_id": data.get("incident_id"),
                "kind": data.get("kind"),
                "target": data.get("target"),
                "decisions": [],
                "reports": [],
            },
        )
        if kind == POLICY:
            entry["decisions"].append(
                {
                    "outcome": data.get("outcome"),
                    "tier": data.get("tier"),
                    "run_mode": data.get("run_mode"),
                    "reasons": data.get("reasons", []),
                    "approvers": data.get("approvers", []),
                    "at": record["recorded_at"],
                    "seq": record["seq"],
                }
            )
        else:
            entry["reports"].append(
                {
                    "status": data.get("status"),
                    "detail": data.get("detail", ""),
                    "at": record["recorded_at"],
                    "seq": record["seq"],
                }
            )
    actions = list(found.values())
    if window.approver is not None:
        actions = [a for a in actions if any(window.approver in d["approvers"] for d in a["decisions"])]
    return actions
