"""Outgoing envelopes with derived ids: reprocessing the same cause yields the same ids, which the
broker's de-duplication window drops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from warden_contracts.canonical import action_hash
from warden_contracts.envelope import Envelope, derived_id, envelope_for, follow_up
from warden_contracts.events import ActionPending, ApprovalProof, ProposedAction
from warden_security.action_signing import Signer, sign_action
from warden_security.ticket_signing import sign_ticket

from warden_policy.domain.approvals import Approval
from warden_policy.ports import Slot

SOURCE = "warden/policy"
DECIDED = "sre.policy.decided.v1"
APPROVAL_REQUESTED = "sre.approval.requested.v1"
APPROVED_ACTION = "sre.action.approved.v1"
PENDING = "sre.action.pending.v1"
TICKETED = "sre.elevation.ticketed.v1"
EXECUTOR = "executor"  # the one identity the topology lets consume approved actions
ESCALATION = "sre.escalation.raised.v1"


def reply(cause: Envelope, topic: str, payload: BaseModel, purpose: str) -> Envelope:
    return follow_up(cause, topic, payload, source=SOURCE, id=derived_id(cause.id, purpose))


def about(approval: Approval, topic: str, payload: BaseModel, purpose: str) -> Envelope:
    """A message caused by the approval's own lifecycle (the deadline), not by an inbound message."""
    return envelope_for(
        topic,
        payload,
        source=SOURCE,
        correlationid=approval.correlationid,
        causationid=approval.request_message_id,
        subject=approval.incident_id,
        id=derived_id(approval.approval_id, purpose),
    )


@dataclass(frozen=True)
class Release:
    """Hands an action to the executor: the elevation ticket, the signed action, then the doorbell."""

    signer: Signer
    action_ttl: timedelta

    def __call__(
        self,
        cause: Envelope,
        *,
        incident_id: str,
        action: ProposedAction,
        tier: int,
        environment: str,
        now: datetime,
        approvals: Sequence[ApprovalProof] = (),
        required_approvals: int = 0,
    ) -> tuple[Slot, list[Envelope]]:
        """`approvals` are the verified ones (M-of-N reached); none when the rules let it run alone."""
        not_after = now + self.action_ttl
        signed = sign_action(
            self.signer,
            action_id=action.action_id,
            incident_id=incident_id,
            kind=action.kind,
            target=action.target,
            params=action.params,
            tier=tier,
            not_after=not_after,
            environment=environment,
            approvals=approvals,
            required_approvals=required_approvals,
        )
        # The executor may start just before not_after; keep the target busy while it could still run.
        slot = Slot(
            action.target,
            action.action_id,
            incident_id,
            not_after + self.action_ttl,
            action_hash(action.kind, action.target, action.params),
        )
        # The ticket lets the executor elevate for this action alone, on this target alone.
        ticket = sign_ticket(
            self.signer,
            action_id=action.action_id,
            incident_id=incident_id,
            target=action.target,
            principal=EXECUTOR,
            not_after=not_after,
        )
        return slot, [
            reply(cause, TICKETED, ticket, f"ticket/{action.action_id}"),
            reply(cause, APPROVED_ACTION, signed, f"signed/{action.action_id}"),
            reply(cause, PENDING, ActionPending(action_id=action.action_id), f"doorbell/{action.action_id}"),
        ]
