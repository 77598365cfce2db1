"""Signing with a Key Vault key: the private key never leaves the vault; verifiers need only the
public key (fetched once, or exported as PEM at deploy time).

Key Vault offers no Ed25519 keys, so on Azure the algorithm is ES256 (EC P-256, SHA-256): Key
Vault signs the digest and returns the raw `r || s` pair, which `verify_es256` checks locally.
The signer is pinned to one key version, so its `key_id` is stable; rotating the key creates a
new version and a new id, and verifiers trust old and new during the overlap.

`KeyVaultSigner` satisfies the `key_id` + `sign(bytes) -> bytes` port of the action signer and the
audit checkpointer. It is synchronous like that port; async callers should run it in a thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from azure.core.credentials import TokenCredential
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

P256_COORDINATE_BYTES = 32


class KeyVaultKeyError(ValueError):
    pass


def public_key_from_jwk(key: KeyVaultKey) -> ec.EllipticCurvePublicKey:
    # JsonWebKey sets its fields dynamically; read them as such.
    jwk = key.key
    kty, crv, x, y = (getattr(jwk, name, None) for name in ("kty", "crv", "x", "y"))
    if kty not in ("EC", "EC-HSM") or crv != "P-256" or not x or not y:
        raise KeyVaultKeyError(f"{key.id} is not an EC P-256 key (kty={kty}, crv={crv})")
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    ).public_key()


def ec_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Like the Ed25519 key id: a short hash of the public key, independent of where it is kept."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "es256-" + hashlib.sha256(der).hexdigest()[:16]


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


def trusted_es256_keys(keys: Iterable[ec.EllipticCurvePublicKey]) -> Callable[[str, bytes, bytes], bool]:
    """(key_id, message, signature) -> True when a trusted key with that id made the signature."""
    by_id = {ec_key_id(k): k for k in keys}

    def check(kid: str, message: bytes, signature: bytes) -> bool:
        key = by_id.get(kid)
        return key is not None and verify_es256(key, message, signature)

    return check


class KeyVaultSigner:
    def __init__(self, vault_url: str, key_name: str, credential: TokenCredential, **client_options: Any) -> None:
        """Resolves the key's current version once and signs with exactly that version."""
        key = KeyClient(vault_url, credential, **client_options).get_key(key_name)
        self.public_key = public_key_from_jwk(key)
        self.key_id = ec_key_id(self.public_key)
        self.vault_key_id = str(key.id)
        self._crypto = CryptographyClient(key, credential, **client_options)

    def sign(self, message: bytes) -> bytes:
        digest = hashlib.sha256(message).digest()
        result = self._crypto.sign(SignatureAlgorithm.es256, digest)
        if result.key_id and result.key_id != self.vault_key_id:
            raise KeyVaultKeyError(f"Key Vault signed with {result.key_id}, expected {self.vault_key_id}")
        if not verify_es256(self.public_key, message, result.signature):
            # A vault answer that does not verify must never reach an executor or an auditor.
            raise KeyVaultKeyError(f"Key Vault returned a signature that does not verify under {self.vault_key_id}")
        return result.signature

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def verify_signature(key: PublicKey, message: bytes, signature: bytes) -> bool:
    """One check for both key kinds a verifier may trust: Ed25519 (key files, embedded) and
    ES256 (Key Vault, Azure), so executors and auditors accept either during a migration."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return verify_es256(key, message, signature)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
