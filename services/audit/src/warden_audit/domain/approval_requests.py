"""Approval requests and what became of them, read from audit records (`warden approvals`): the
audit log is the system of record, so the CLI answers from it rather than asking a service."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from warden_audit.domain.incident_facts import Record

REQUESTED = "sre.approval.requested.v1"
DECIDED_BY_POLICY = "sre.policy.decided.v1"
FINAL_OUTCOMES = {"approved", "denied", "expired", "superseded"}


class ApprovalEntry(TypedDict):
    """One request (`ApprovalRequested` payload), the correlation id it came under, and its state:
    pending, or policy's final outcome. A dict because `warden approvals --json` prints it as is."""

    request: dict[str, Any]
    correlationid: str | None
    state: str


def approval_requests(records: Iterable[Record]) -> dict[str, ApprovalEntry]:
    found: dict[str, ApprovalEntry] = {}
    for record in records:
        env = record["envelope"]
        data = env.get("data", {})
        if env.get("type") == REQUESTED:
            found[data["approval_id"]] = {
                "request": data,
                "correlationid": env.get("correlationid"),
                "state": "pending",
            }
        elif env.get("type") == DECIDED_BY_POLICY and data.get("approval_id") in found:
            outcome = data.get("outcome")
            if outcome in FINAL_OUTCOMES:
                found[data["approval_id"]]["state"] = outcome
    return found


def find_request(requests: dict[str, ApprovalEntry], approval_id: str) -> tuple[str, ApprovalEntry] | None:
    """The request `approval_id` names, or the one it is a unique prefix of (six characters at least:
    short enough to type at 3 a.m.); None when there is none or more than one."""
    if approval_id in requests:
        return approval_id, requests[approval_id]
    matches = [k for k in requests if len(approval_id) >= 6 and k.startswith(approval_id)]
    return (matches[0], requests[matches[0]]) if len(matches) == 1 else None


def is_ambiguous(requests: dict[str, ApprovalEntry], approval_id: str) -> bool:
    prefixed = [k for k in requests if len(approval_id) >= 6 and k.startswith(approval_id)]
    return approval_id not in requests and len(prefixed) > 1
