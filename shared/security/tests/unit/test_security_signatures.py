"""`warden_security.signatures`: the trusted key's type picks Ed25519 or ES256; anything else is
refused, a P-256 signature never passes under an Ed25519 key id and the reverse."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from warden_security.action_signing import LocalSigner, approval_proof, sign_action, verify_action
from warden_security.signatures import (
    UnsupportedKeyError,
    ec_key_id,
    load_verifying_key,
    trust,
    verify_signature,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class P256Signer:
    """Signs like Key Vault answers: raw r || s over SHA-256 (tests the verifier without a vault)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = ec_key_id(self.key.public_key())

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self.key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _action(signer: object, target: str = "checkout-api"):
    return sign_action(
        signer,  # type: ignore[arg-type]
        action_id="a1",
        incident_id="inc-1",
        kind="scale_service",
        target=target,
        params={"replicas": 3},
        tier=1,
        environment="dev",
        approvals=[approval_proof("alice", "token-of-alice")],
        not_after=NOW + timedelta(minutes=10),
    )


def _pem(key: object, path: Path) -> Path:
    path.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # type: ignore[attr-defined]
    return path


def test_both_key_kinds_verify_actions_through_one_trusted_map(tmp_path: Path) -> None:
    p256, ed = P256Signer(), Ed25519PrivateKey.generate()
    trusted = trust(
        [
            load_verifying_key(_pem(p256.key.public_key(), tmp_path / "p256.pem")),
            load_verifying_key(_pem(ed.public_key(), tmp_path / "ed.pem")),
        ]
    )
    assert verify_action(_action(p256), trusted, now=NOW) == []
    assert verify_action(_action(LocalSigner(ed)), trusted, now=NOW) == []
    tampered = _action(p256).model_copy(update={"target": "payments-api"})
    assert verify_action(tampered, trusted, now=NOW) == ["signature does not verify"]


def test_a_signature_of_one_kind_never_passes_under_a_key_of_the_other() -> None:
    p256, ed = P256Signer(), Ed25519PrivateKey.generate()
    message = hashlib.sha256(b"m").digest()
    assert not verify_signature(ed.public_key(), message, p256.sign(message))
    assert not verify_signature(p256.key.public_key(), message, ed.sign(message))
    relabelled = _action(p256).model_copy(update={"key_id": "ed-key"})
    assert verify_action(relabelled, {"ed-key": ed.public_key()}, now=NOW) == ["signature does not verify"]


def test_other_key_types_are_refused(tmp_path: Path) -> None:
    rsa_public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p384_public = ec.generate_private_key(ec.SECP384R1()).public_key()
    for name, key in {"rsa": rsa_public, "p384": p384_public}.items():
        with pytest.raises(UnsupportedKeyError):
            load_verifying_key(_pem(key, tmp_path / f"{name}.pem"))
        with pytest.raises(UnsupportedKeyError):
            verify_signature(key, b"m", b"\0" * 64)
        action = _action(P256Signer())
        [problem] = verify_action(action, {action.key_id: key}, now=NOW)  # type: ignore[dict-item]
        assert "refused" in problem and "neither an Ed25519 nor an EC P-256" in problem
