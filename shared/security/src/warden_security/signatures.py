"""Signature checks for the two key kinds a verifier may trust, with no cloud SDK attached:
Ed25519 (key files, embedded mode) and ES256 (EC P-256 keys in Key Vault, Azure mode).

The key's type decides the algorithm; any other key type is refused, never guessed at. Key ids
are a short hash of the public key, so a signature names the key without saying where it is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from warden_security.keys import key_id as ed25519_key_id

P256_COORDINATE_BYTES = 32

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class UnsupportedKeyError(ValueError):
    pass


def ec_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Like the Ed25519 key id: a short hash of the public key, independent of where it is kept."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "es256-" + hashlib.sha256(der).hexdigest()[:16]


def checked_public_key(key: object, origin: str) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise UnsupportedKeyError(f"{origin} is neither an Ed25519 nor an EC P-256 public key")


def verifying_key_id(key: PublicKey) -> str:
    key = checked_public_key(key, "trusted key")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ed25519_key_id(key)
    return ec_key_id(key)


def load_verifying_key(path: Path) -> PublicKey:
    """A trusted signer's public key (PEM): Ed25519 or EC P-256, as the file says."""
    return checked_public_key(serialization.load_pem_public_key(path.read_bytes()), str(path))


def trust(keys: Iterable[PublicKey]) -> dict[str, PublicKey]:
    return {verifying_key_id(k): k for k in keys}


def verify_es256(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != 2 * P256_COORDINATE_BYTES:
        return False
    r = int.from_bytes(signature[:P256_COORDINATE_BYTES], "big")
    s = int.from_bytes(signature[P256_COORDINATE_BYTES:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_signature(key: object, message: bytes, signature: bytes) -> bool:
    """One check for both kinds, so executors and auditors accept either during a migration.
    Raises `UnsupportedKeyError` for any other key type: a caller must refuse, not skip the check."""
    key = checked_public_key(key, "trusted key")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return verify_es256(key, message, signature)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def trusted_signature_check(keys: Iterable[PublicKey]) -> Callable[[str, bytes, bytes], bool]:
    """(key_id, message, signature) -> True when a trusted key with that id made the signature."""
    by_id = trust(keys)

    def check(kid: str, message: bytes, signature: bytes) -> bool:
        key = by_id.get(kid)
        return key is not None and verify_signature(key, message, signature)

    return check
