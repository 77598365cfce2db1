"""Checks on a human decision, after the identity token's signature, issuer, audience and expiry
have been verified: it must bind to this approval and this exact action, be used once, come from
an authorised group and not from the requester."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from warden_contracts.events import ApprovalDecision

from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.config import Approvers

REQUIRED_CLAIMS = ("approval_id", "action_hash", "groups")


def _state_problem(approval: Approval, now: datetime) -> str | None:
    if approval.state in (ApprovalState.EXPIRED, ApprovalState.SUPERSEDED) or approval.is_due(now):
        return "approval expired"
    if approval.state is not ApprovalState.PENDING:
        return f"approval already {approval.state.value}"
    return None


def effective_groups(claims: Mapping[str, Any], approvers: Approvers) -> set[str]:
    """Groups the token asserts AND the approver directory confirms."""
    asserted = claims.get("groups")
    if not isinstance(asserted, list) or not all(isinstance(g, str) for g in asserted):
        return set()
    known = approvers.directory_groups(str(claims.get("sub", "")))
    return set(asserted) & known if known is not None else set()


def decision_problem(
    approval: Approval,
    claims: Mapping[str, Any],
    decision: ApprovalDecision,
    approvers: Approvers,
    *,
    jti_seen: bool,
    now: datetime,
) -> str | None:
    """The reason to reject this decision, or None when it may be applied."""
    if claims.get("approval_id") != approval.approval_id:
        return "token is bound to a different approval"
    if jti_seen:
        return "token replayed: jti already used"
    state = _state_problem(approval, now)
    if state:
        return state
    if claims.get("action_hash") != approval.action_hash:
        return "action_hash mismatch: the token approves a different action"
    subject = str(claims.get("sub", ""))
    if decision is ApprovalDecision.APPROVE and subject == approval.requested_by:
        return f"self-approval: {subject} requested this action"
    if approvers.directory_groups(subject) is None:
        return f"unknown approver {subject!r}"
    allowed = approvers.authorised_groups(approval.tier, approval.environment)
    if not effective_groups(claims, approvers) & allowed:
        return (
            f"approver {subject} is not in a group authorised for tier {approval.tier} "
            f"in {approval.environment} ({', '.join(sorted(allowed)) or 'nobody'})"
        )
    return None
