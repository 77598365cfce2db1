"""Elevation tickets: policy's signed permission to elevate for one approved action.

The signing input names its purpose, so a ticket signature can never pass for an action's (or
the other way round) although policy signs both with the same key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime

from warden_contracts.canonical import canonical_json
from warden_contracts.events import ElevationTicket

from warden_security.action_signing import Signer
from warden_security.signatures import PublicKey, UnsupportedKeyError, verify_signature

PURPOSE = "warden.elevation-ticket.v1"


def ticket_signing_input(ticket: ElevationTicket) -> bytes:
    return canonical_json(
        {
            "purpose": PURPOSE,
            "action_id": ticket.action_id,
            "incident_id": ticket.incident_id,
            "target": ticket.target,
            "principal": ticket.principal,
            "not_after": ticket.not_after.astimezone(UTC).isoformat(),
            "key_id": ticket.key_id,
        }
    )


def sign_ticket(
    signer: Signer, *, action_id: str, incident_id: str, target: str, principal: str, not_after: datetime
) -> ElevationTicket:
    unsigned = ElevationTicket(
        action_id=action_id,
        incident_id=incident_id,
        target=target,
        principal=principal,
        not_after=not_after,
        key_id=signer.key_id,
        signature="",
    )
    signature = base64.b64encode(signer.sign(ticket_signing_input(unsigned))).decode()
    return unsigned.model_copy(update={"signature": signature})


def verify_ticket(ticket: ElevationTicket, trusted: Mapping[str, PublicKey], *, now: datetime) -> list[str]:
    """Every reason not to honour this ticket; empty means policy signed it and it is live."""
    key = trusted.get(ticket.key_id)
    if key is None:
        return [f"ticket signed by unknown key {ticket.key_id!r}"]
    try:
        signature = base64.b64decode(ticket.signature, validate=True)
        if not verify_signature(key, ticket_signing_input(ticket), signature):
            return ["ticket signature does not verify"]
    except UnsupportedKeyError as err:
        return [f"ticket key {ticket.key_id!r} refused: {err}"]
    except binascii.Error:
        return ["ticket signature does not verify"]
    if ticket.not_after <= now:
        return [f"ticket expired at {ticket.not_after.isoformat()}"]
    return []
