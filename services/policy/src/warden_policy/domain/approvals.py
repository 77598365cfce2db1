"""The approval state machine: pending -> approved | denied | expired | superseded.

Transitions return a new record with the same `version`; the store writes it only if the stored
version still matches (optimistic concurrency) and then increments it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from warden_contracts.events import ApprovalProof, Evidence, ProposedAction

from warden_policy.domain.model import RunMode

TIMED_OUT = "approval timed out: no action taken"


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class TransitionError(ValueError):
    pass


@dataclass(frozen=True)
class Approval:
    approval_id: str
    incident_id: str
    correlationid: str
    # The ApprovalRequested message id: what later transitions are caused by.
    request_message_id: str
    action: ProposedAction
    action_hash: str
    tier: int
    environment: str
    run_mode: RunMode
    requested_by: str
    summary: str
    requested_at: datetime
    expires_at: datetime
    evidence: list[Evidence] = field(default_factory=list)
    resource_group: str = ""
    incident_class: str = ""
    scheduled_task: str | None = None
    # Nobody listed here (the requester and whoever shaped the proposal) may approve.
    proposal_chain: tuple[str, ...] = ()
    approvals_required: int = 1
    # Distinct approvers so far (M-of-N); the last one to reach the quorum completes it.
    approved_by: tuple[str, ...] = ()
    # SHA-256 of each approver's identity token, in `approved_by` order ("" for a record older than this).
    approval_tokens: tuple[str, ...] = ()
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    reason: str = ""
    version: int = 1

    def is_due(self, now: datetime) -> bool:
        return self.state is ApprovalState.PENDING and now >= self.expires_at

    def is_open(self, now: datetime) -> bool:
        return self.state is ApprovalState.PENDING and now < self.expires_at

    def approve(
        self, by: str, reason: str, now: datetime, *, quorum_reached: bool = True, token_sha256: str = ""
    ) -> Approval:
        """Adds `by`'s approval; the approval completes only once the policy's quorum is reached."""
        self._require_open(now)
        if by in self.approved_by:
            raise TransitionError(f"{by} already approved {self.approval_id}")
        approved_by = (*self.approved_by, by)
        tokens = (*self._tokens(), token_sha256)
        if not quorum_reached:
            return replace(self, approved_by=approved_by, approval_tokens=tokens)
        return replace(
            self,
            state=ApprovalState.APPROVED,
            decided_by=by,
            reason=reason,
            approved_by=approved_by,
            approval_tokens=tokens,
        )

    def _tokens(self) -> tuple[str, ...]:
        padding = ("",) * (len(self.approved_by) - len(self.approval_tokens))
        return (*self.approval_tokens, *padding)[: len(self.approved_by)]

    def proofs(self) -> list[ApprovalProof]:
        """The verified approvals as the signed action carries them (executor: admission.py)."""
        pairs = zip(self.approved_by, self._tokens(), strict=True)
        return [ApprovalProof(approver=a, token_sha256=t) for a, t in pairs]

    def deny(self, by: str, reason: str, now: datetime) -> Approval:
        self._require_open(now)
        return replace(self, state=ApprovalState.DENIED, decided_by=by, reason=reason)

    def expire(self, now: datetime) -> Approval:
        if not self.is_due(now):
            raise TransitionError(f"approval {self.approval_id} is {self.state.value} and not past its deadline")
        return replace(self, state=ApprovalState.EXPIRED, reason=TIMED_OUT)

    def supersede(self, reason: str) -> Approval:
        if self.state is not ApprovalState.PENDING:
            raise TransitionError(f"approval {self.approval_id} is already {self.state.value}")
        return replace(self, state=ApprovalState.SUPERSEDED, reason=reason)

    def _require_open(self, now: datetime) -> None:
        if not self.is_open(now):
            state = "expired" if self.state is ApprovalState.PENDING else self.state.value
            raise TransitionError(f"approval {self.approval_id} is {state}")
