"""Checks on a human decision, after the identity token's signature, issuer, audience and expiry
have been verified: it must bind to this approval and this exact action, be used once, and not
come from anyone in the proposal chain. Group authorisation is the policy's (approvals.cedar).

Groups come from the approver directory for every issuer: a token's `groups` claim can only
narrow them (the local issuer), never add one, and a subject the directory does not know is
refused whoever signed the token."""

from __future__ import annotations

from collections.abc import Collection, Mapping
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


def effective_groups(claims: Mapping[str, Any], approvers: Approvers, directory_issuers: Collection[str]) -> set[str]:
    """The directory's groups of the person behind the token. `directory_issuers` (the local one)
    name people by directory name and their `groups` claim narrows the set further; any other
    issuer's subject must be mapped in the directory (`subjects`) and its claim is ignored."""
    local = claims.get("iss") in directory_issuers
    user = approvers.person(str(claims.get("sub", "")), by_name=local)
    if user is None:
        return set()
    known = set(user.groups)
    if not local:
        return known
    asserted = claims.get("groups")
    if not isinstance(asserted, list) or not all(isinstance(g, str) for g in asserted):
        return set()
    return known & set(asserted)


def proposal_chain(approval: Approval) -> set[str]:
    return {approval.requested_by, *approval.proposal_chain}


def decision_problem(
    approval: Approval,
    claims: Mapping[str, Any],
    decision: ApprovalDecision,
    approvers: Approvers,
    *,
    jti_seen: bool,
    now: datetime,
    directory_issuers: Collection[str],
) -> str | None:
    """The reason to reject this decision before asking the policy, or None."""
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
    if decision is ApprovalDecision.APPROVE and subject in proposal_chain(approval):
        return f"self-approval: {subject} is in the proposal chain of this action"
    if approvers.person(subject, by_name=claims.get("iss") in directory_issuers) is None:
        return f"unknown approver {subject!r}: not in the approver directory"
    if decision is ApprovalDecision.APPROVE and subject in approval.approved_by:
        return f"{subject} already approved: M-of-N needs distinct approvers"
    return None
