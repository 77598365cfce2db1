"""The embedded checkpoint signer (an Ed25519 key file) and the matching signature check.

On Azure a Key Vault signer provides the same `key_id` and `sign(bytes) -> bytes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from warden_security.keys import key_id, load_or_create_private_key, load_public_key

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


def trusted_keys(keys: Iterable[Ed25519PublicKey]) -> SignatureCheck:
    """A check that accepts signatures by any of `keys`, looked up by key id."""
    by_id = {key_id(k): k for k in keys}

    def check(kid: str, message: bytes, signature: bytes) -> bool:
        key = by_id.get(kid)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return check


def trusted_key_files(paths: Iterable[Path]) -> SignatureCheck:
    return trusted_keys(load_public_key(p) for p in paths)
