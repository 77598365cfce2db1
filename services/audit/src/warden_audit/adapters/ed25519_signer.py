"""The embedded checkpoint signer (an Ed25519 key file) and the matching signature check.

On Azure a Key Vault signer provides the same `key_id` and `sign(bytes) -> bytes` (ES256); the
check accepts both kinds of public key, the key's type deciding the algorithm.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from warden_security.keys import key_id, load_or_create_private_key
from warden_security.signatures import PublicKey, load_verifying_key, trusted_signature_check

from warden_audit.domain.checkpoint import SignatureCheck


class Ed25519Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._key_id = key_id(key.public_key())

    @classmethod
    def from_file(cls, path: Path) -> Ed25519Signer:
        """Load the key, creating it (mode 0600, public key beside it) on first use."""
        return cls(load_or_create_private_key(path))

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def trusted_keys(keys: Iterable[PublicKey]) -> SignatureCheck:
    """A check that accepts signatures by any of `keys` (Ed25519 or EC P-256), looked up by key id."""
    return trusted_signature_check(keys)


def trusted_key_files(paths: Iterable[Path]) -> SignatureCheck:
    return trusted_keys(load_verifying_key(p) for p in paths)
