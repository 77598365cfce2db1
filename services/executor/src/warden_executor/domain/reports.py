"""The messages the executor emits: action reports and P1 escalations.

Ids are derived from the action id, so a crash-and-redeliver republishes the same ids and the
broker's de-duplication drops the copies. Rejections also carry the message id: two different
messages refused for the same action id (a forged copy, then a replay) are two audit records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden_contracts.envelope import Envelope, derived_id, follow_up
from warden_contracts.events import ActionReported, EscalationRaised, Evidence, ReportStatus, SignedAction

SOURCE = "warden/executor"
RAISED_BY = "warden-executor"
REPORTED_TOPIC = "sre.action.reported.v1"
ESCALATION_TOPIC = "sre.escalation.raised.v1"


def report_id(action_id: str, status: ReportStatus, cause_id: str) -> str:
    purpose = f"report/{status.value}"
    if status is ReportStatus.REJECTED:
        purpose = f"{purpose}/{cause_id}"
    return derived_id(action_id, purpose)


def action_report(
    cause: Envelope, action: SignedAction, status: ReportStatus, detail: str, evidence: dict[str, Any] | None = None
) -> Envelope:
    payload = ActionReported(
        action_id=action.action_id,
        incident_id=action.incident_id,
        kind=action.kind,
        target=action.target,
        status=status,
        detail=detail,
        evidence=evidence or {},
    )
    return follow_up(cause, REPORTED_TOPIC, payload, source=SOURCE, id=report_id(action.action_id, status, cause.id))


def escalation(
    cause: Envelope,
    action: SignedAction,
    reason: str,
    timeline: list[str],
    observations: list[tuple[str, dict[str, Any], dict[str, Any], datetime]],
) -> Envelope:
    """A manual P1 with everything seen so far; `observations` are (tool, params, result, at)."""
    evidence = [
        Evidence(tool=tool, params=params, result=result, untrusted=False, observed_at=at)
        for tool, params, result, at in observations
    ]
    payload = EscalationRaised(
        incident_id=action.incident_id,
        priority="P1",
        reason=reason,
        raised_by=RAISED_BY,
        evidence=evidence,
        timeline=timeline,
    )
    return follow_up(cause, ESCALATION_TOPIC, payload, source=SOURCE, id=derived_id(action.action_id, "escalation"))
