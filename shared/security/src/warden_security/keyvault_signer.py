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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Re-exported: the checks live in `signatures`, which verifiers import without the Azure SDK.
from warden_security.signatures import (
    PublicKey,
    ec_key_id,
    trusted_signature_check,
    verify_es256,
    verify_signature,
)

__all__ = [
    "KeyVaultKeyError",
    "KeyVaultSigner",
    "PublicKey",
    "ec_key_id",
    "public_key_from_jwk",
    "trusted_es256_keys",
    "vault_credential",
    "vault_public_key",
    "verify_es256",
    "verify_signature",
]


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


def trusted_es256_keys(keys: Iterable[ec.EllipticCurvePublicKey]) -> Callable[[str, bytes, bytes], bool]:
    """(key_id, message, signature) -> True when a trusted key with that id made the signature."""
    return trusted_signature_check(keys)


def vault_public_key(vault_url: str, key_name: str, credential: TokenCredential, **client_options: Any) -> PublicKey:
    """The current version's public key, for verifiers: needs only read access to the key (Key
    Vault Reader), never the sign permission."""
    return public_key_from_jwk(KeyClient(vault_url, credential, **client_options).get_key(key_name))


def vault_credential(managed_identity_client_id: str | None) -> TokenCredential:
    """The service's managed identity on Azure (or whatever `DefaultAzureCredential` finds locally)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)


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
