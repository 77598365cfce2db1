"""Builders for what policy publishes when it releases an action to the executor.

Tests and benchmarks that drive the executor without a running policy service play policy's part
with these: the signed action, the doorbell that names it, and the elevation ticket that lets the
executor elevate for that one action. One builder, so a change to what policy sends (a new signed
field, a new ticket claim) is made once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending, SignedAction
from warden_security.action_signing import LocalSigner, approval_proof, sign_action
from warden_security.ticket_signing import sign_ticket

APPROVED = "sre.action.approved.v1"
PENDING = "sre.action.pending.v1"
TICKETED = "sre.elevation.ticketed.v1"
POLICY_SOURCE = "warden/policy"


@dataclass(frozen=True)
class Release:
    """The three envelopes of one release, in the order policy publishes them."""

    ticketed: Envelope
    approved: Envelope
    doorbell: Envelope

    @property
    def in_order(self) -> tuple[Envelope, Envelope, Envelope]:
        return self.ticketed, self.approved, self.doorbell


def approved_tier1(
    policy_key: Ed25519PrivateKey,
    *,
    action_id: str,
    incident_id: str,
    target: str,
    kind: str = "restart_service",
    params: dict[str, Any] | None = None,
    environment: str = "dev",
    approver: str = "alice",
    valid_for: timedelta = timedelta(minutes=30),
) -> SignedAction:
    """A tier-1 action policy signed after one verified approval."""
    return sign_action(
        LocalSigner(policy_key),
        action_id=action_id,
        incident_id=incident_id,
        kind=kind,
        target=target,
        params=params or {},
        tier=1,
        environment=environment,
        approvals=[approval_proof(approver, f"token-of-{approver}")],
        not_after=datetime.now(UTC) + valid_for,
    )


def ticket_envelope(policy_key: Ed25519PrivateKey, action: SignedAction) -> Envelope:
    """The elevation ticket policy publishes with an approved action: the executor may elevate for it alone."""
    ticket = sign_ticket(
        LocalSigner(policy_key),
        action_id=action.action_id,
        incident_id=action.incident_id,
        target=action.target,
        principal="executor",
        not_after=action.not_after,
    )
    return envelope_for(TICKETED, ticket, source=POLICY_SOURCE, correlationid=action.incident_id)


def release(policy_key: Ed25519PrivateKey, action: SignedAction) -> Release:
    """Ticket, signed action and doorbell for `action`, as policy sends them."""
    approved = envelope_for(APPROVED, action, source=POLICY_SOURCE, correlationid=action.incident_id)
    doorbell = envelope_for(
        PENDING, ActionPending(action_id=action.action_id), source=POLICY_SOURCE, correlationid=action.incident_id
    )
    return Release(ticketed=ticket_envelope(policy_key, action), approved=approved, doorbell=doorbell)
