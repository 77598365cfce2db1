"""The approver's view of one approval request: countdown, state, and whether a person may decide it.

The console refuses early what policy would refuse anyway (expired, decided, viewer, own request);
policy remains the authority and verifies every decision again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden_console.domain.roles import Principal

FINAL_OUTCOMES = frozenset({"approved", "denied", "expired", "superseded"})


@dataclass(frozen=True)
class Outcome:
    state: str
    by: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    at: str = ""  # when policy settled it (the audit record's time, ISO 8601)
    notes: tuple[str, ...] = ()  # what the approvers wrote as their reason


@dataclass(frozen=True)
class ApprovalView:
    request: Mapping[str, Any]
    correlationid: str
    outcome: Outcome | None = None

    @property
    def approval_id(self) -> str:
        return str(self.request["approval_id"])

    @property
    def incident_id(self) -> str:
        return str(self.request["incident_id"])

    @property
    def expires_at(self) -> datetime:
        value = self.request["expires_at"]
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    @property
    def action(self) -> Mapping[str, Any]:
        return dict(self.request["action"])

    @property
    def approvals_required(self) -> int:
        return int(self.request.get("approvals_required") or 1)

    def seconds_left(self, now: datetime) -> int:
        # Rounded up: a countdown that reaches zero must not precede the real deadline.
        return max(0, math.ceil((self.expires_at - now).total_seconds()))

    def state(self, now: datetime) -> str:
        if self.outcome and self.outcome.state in FINAL_OUTCOMES:
            return self.outcome.state
        return "expired" if now >= self.expires_at else "pending"

    def is_pending(self, now: datetime) -> bool:
        return self.state(now) == "pending"

    def refusal(self, who: Principal, now: datetime, *, approve: bool) -> str | None:
        """Why `who` may not decide this request now, or None."""
        if not who.may_decide:
            return f"{who.name} is a {who.role.label} and may not decide approvals"
        state = self.state(now)
        if state == "expired":
            return "this request has expired; nothing will run (policy escalated it)"
        if state != "pending":
            return f"this request is already {state}"
        if approve and who.name == self.request.get("requested_by"):
            return "nobody approves their own request"
        return None


def outcome_from_decision(data: Mapping[str, Any]) -> Outcome | None:
    """An approval's outcome from a `sre.policy.decided.v1` payload, when it settles it."""
    state = str(data.get("outcome", ""))
    if state not in FINAL_OUTCOMES:
        return None
    return Outcome(state, tuple(data.get("approvers") or ()), tuple(data.get("reasons") or ()))
