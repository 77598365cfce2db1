"""Payloads the gate publishes, built from decisions and approvals (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from warden_contracts.events import (
    DecisionOutcome,
    EscalationRaised,
    Evidence,
    PolicyDecided,
    ProposedAction,
)

from warden_policy.domain.approvals import TIMED_OUT, Approval

RAISED_BY = "warden-policy"


def decided(
    incident_id: str,
    action: ProposedAction,
    *,
    tier: int,
    run_mode: str,
    outcome: DecisionOutcome,
    reasons: Sequence[str],
    approval_id: str | None = None,
    approvers: Sequence[str] = (),
) -> PolicyDecided:
    return PolicyDecided(
        incident_id=incident_id,
        action_id=action.action_id,
        kind=action.kind,
        target=action.target,
        tier=tier,
        run_mode=run_mode,
        outcome=outcome,
        reasons=list(reasons),
        approval_id=approval_id,
        approvers=sorted(approvers),
    )


def decided_for(
    approval: Approval, outcome: DecisionOutcome, reasons: Sequence[str], approvers: Sequence[str] = ()
) -> PolicyDecided:
    return decided(
        approval.incident_id,
        approval.action,
        tier=approval.tier,
        run_mode=approval.run_mode.value,
        outcome=outcome,
        reasons=reasons,
        approval_id=approval.approval_id,
        approvers=approvers,
    )


def escalation(
    incident_id: str,
    reason: str,
    evidence: Sequence[Evidence],
    timeline: Sequence[str],
    priority: Literal["P1", "P2", "P3"] = "P1",
) -> EscalationRaised:
    return EscalationRaised(
        incident_id=incident_id,
        priority=priority,
        reason=reason,
        raised_by=RAISED_BY,
        evidence=list(evidence),
        timeline=list(timeline),
    )


def expired(approval: Approval) -> PolicyDecided:
    deadline = f"deadline: {TIMED_OUT} by {approval.expires_at.isoformat()}"
    return decided_for(approval, DecisionOutcome.EXPIRED, [deadline])


def timed_out(approval: Approval) -> EscalationRaised:
    action = approval.action
    timeline = [
        f"approval {approval.approval_id} requested {approval.requested_at.isoformat()} "
        f"for {action.kind} on {action.target} (tier {approval.tier}, {approval.environment})",
        f"no decision by {approval.expires_at.isoformat()}: expired without acting",
    ]
    return escalation(approval.incident_id, TIMED_OUT, approval.evidence, timeline)
