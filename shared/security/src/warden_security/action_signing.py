"""Policy signs what was approved; the executor runs only what verifies (DESIGN §3).

The signature covers: action id, incident id, kind, target, a hash of the canonical parameters,
tier, approvers, not-after, and the approval evidence: environment, the M of M-of-N, and each
verified approval (approver, identity-token SHA-256), so the executor can check approvals itself.
A signer port lets Key Vault replace the local key file; the verifier accepts Ed25519 and ES256
keys, the trusted key's type deciding the algorithm.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.canonical import canonical_json, sha256_hex
from warden_contracts.events import ApprovalProof, SignedAction

from warden_security.keys import key_id
from warden_security.signatures import PublicKey, UnsupportedKeyError, verify_signature


class Signer(Protocol):
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


class LocalSigner:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.key_id = key_id(key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def params_hash(params: dict[str, Any]) -> str:
    return sha256_hex(params)


def token_sha256(token: str) -> str:
    """What a signed action carries of an approver's identity token: its hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def approval_proof(approver: str, identity_token: str) -> ApprovalProof:
    return ApprovalProof(approver=approver, token_sha256=token_sha256(identity_token))


def signing_input(action: SignedAction) -> bytes:
    approvals = sorted((a.approver, a.token_sha256) for a in action.approvals)
    return canonical_json(
        {
            "v": 2,
            "environment": action.environment,
            "required_approvals": action.required_approvals,
            "approvals": [{"approver": who, "token_sha256": digest} for who, digest in approvals],
            "action_id": action.action_id,
            "incident_id": action.incident_id,
            "kind": action.kind,
            "target": action.target,
            "params_hash": action.params_hash,
            "tier": action.tier,
            "approvers": sorted(action.approvers),
            "not_after": action.not_after.astimezone(UTC).isoformat(),
            "key_id": action.key_id,
        }
    )


def sign_action(
    signer: Signer,
    *,
    action_id: str,
    incident_id: str,
    kind: str,
    target: str,
    params: dict[str, Any],
    tier: int,
    not_after: datetime,
    environment: str | None,
    approvals: Sequence[ApprovalProof] = (),
    required_approvals: int = 0,
) -> SignedAction:
    """`approvers` are the ids in `approvals`; an action policy let run without asking has none."""
    unsigned = SignedAction(
        action_id=action_id,
        incident_id=incident_id,
        kind=kind,
        target=target,
        params=params,
        params_hash=params_hash(params),
        tier=tier,
        approvers=sorted({a.approver for a in approvals}),
        not_after=not_after,
        key_id=signer.key_id,
        signature="",
        environment=environment,
        required_approvals=required_approvals,
        approvals=sorted(approvals, key=lambda a: a.approver),
    )
    signature = base64.b64encode(signer.sign(signing_input(unsigned))).decode()
    return unsigned.model_copy(update={"signature": signature})


def verify_action(action: SignedAction, trusted: Mapping[str, PublicKey], *, now: datetime) -> list[str]:
    """Every reason not to run this action; empty means the policy's signature holds and it is live."""
    key = trusted.get(action.key_id)
    if key is None:
        return [f"unknown signing key {action.key_id!r}"]
    problems: list[str] = []
    try:
        if not verify_signature(key, signing_input(action), base64.b64decode(action.signature, validate=True)):
            problems.append("signature does not verify")
    except UnsupportedKeyError as err:
        return [f"signing key {action.key_id!r} refused: {err}"]
    except binascii.Error:
        problems.append("signature does not verify")
    if params_hash(action.params) != action.params_hash:
        problems.append("parameters differ from the approved parameter hash")
    if action.not_after <= now:
        problems.append(f"expired at {action.not_after.isoformat()}")
    return problems
