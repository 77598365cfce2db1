"""Action signatures and identity tokens: what verifies, and every way it must not."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.events import ApprovalProof
from warden_security.action_signing import LocalSigner, approval_proof, sign_action, verify_action
from warden_security.keys import key_id
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer, TokenRejected, TokenVerifier

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _signed(key: Ed25519PrivateKey, **overrides: object):
    fields = dict(
        action_id="a1",
        incident_id="inc-1",
        kind="scale_service",
        target="checkout-api",
        params={"replicas": 3},
        tier=1,
        environment="prod",
        approvals=[approval_proof("alice", "token-of-alice")],
        required_approvals=1,
        not_after=NOW + timedelta(minutes=10),
    )
    fields.update(overrides)
    return sign_action(LocalSigner(key), **fields)  # type: ignore[arg-type]


def test_a_signed_action_verifies_with_the_policy_key() -> None:
    key = Ed25519PrivateKey.generate()
    action = _signed(key)
    assert verify_action(action, {key_id(key.public_key()): key.public_key()}, now=NOW) == []


def test_forged_altered_and_expired_actions_are_refused() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    trusted = {key_id(key.public_key()): key.public_key()}
    forged = _signed(other).model_copy(update={"key_id": key_id(key.public_key())})
    assert verify_action(forged, trusted, now=NOW) == ["signature does not verify"]
    altered = _signed(key).model_copy(update={"params": {"replicas": 10}})
    assert verify_action(altered, trusted, now=NOW) == ["parameters differ from the approved parameter hash"]
    retargeted = _signed(key).model_copy(update={"target": "payments-api"})
    assert verify_action(retargeted, trusted, now=NOW) == ["signature does not verify"]
    expired = _signed(key, not_after=NOW - timedelta(seconds=1))
    assert verify_action(expired, trusted, now=NOW)[0].startswith("expired at")
    assert verify_action(_signed(other), trusted, now=NOW)[0].startswith("unknown signing key")


def test_the_approval_evidence_is_signed() -> None:
    key = Ed25519PrivateKey.generate()
    trusted = {key_id(key.public_key()): key.public_key()}
    signed = _signed(key)
    assert signed.approvers == ["alice"] and len(signed.approvals[0].token_sha256) == 64
    for change in (
        {"environment": "dev"},
        {"required_approvals": 0},
        {"approvals": []},
        {"approvals": [ApprovalProof(approver="mallory", token_sha256=signed.approvals[0].token_sha256)]},
        {"approvals": [approval_proof("alice", "another token")]},
    ):
        altered = signed.model_copy(update=change)
        assert verify_action(altered, trusted, now=NOW) == ["signature does not verify"], change


def test_identity_tokens_check_issuer_audience_expiry_and_signature() -> None:
    key = Ed25519PrivateKey.generate()
    issuer = TokenIssuer(key, LOCAL_APPROVER_ISSUER)
    verifier = TokenVerifier(key.public_key(), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE, leeway_s=0)
    claims = verifier.verify(issuer.issue("alice", APPROVAL_AUDIENCE, 60, groups=["sre-oncall"]), require=("groups",))
    assert claims["sub"] == "alice" and claims["groups"] == ["sre-oncall"]

    with pytest.raises(TokenRejected, match="audience"):
        verifier.verify(issuer.issue("alice", "urn:other", 60))
    with pytest.raises(TokenRejected, match="signature"):
        verifier.verify(
            TokenIssuer(Ed25519PrivateKey.generate(), LOCAL_APPROVER_ISSUER).issue("a", APPROVAL_AUDIENCE, 60)
        )
    with pytest.raises(TokenRejected, match="issuer"):
        verifier.verify(TokenIssuer(key, "urn:evil").issue("alice", APPROVAL_AUDIENCE, 60))
    past = int(time.time()) - 120
    stale = jwt.encode(
        {
            "iss": LOCAL_APPROVER_ISSUER,
            "aud": APPROVAL_AUDIENCE,
            "sub": "alice",
            "iat": past,
            "exp": past + 60,
            "jti": "x",
        },
        key,
        algorithm="EdDSA",
    )
    with pytest.raises(TokenRejected, match="expired"):
        verifier.verify(stale)
    with pytest.raises(TokenRejected, match="groups"):
        verifier.verify(issuer.issue("alice", APPROVAL_AUDIENCE, 60), require=("groups",))
