"""Signed checkpoints: the audit service's signature over (seq, head hash, Merkle root, time).

A checkpoint commits to every record up to `seq`: the head hash pins the chain, the Merkle root
lets one record be proven without the rest. Signing happens behind `Signer` (Ed25519 key file in
the embedded mode; a Key Vault key fits the same two members), and checking behind
`SignatureCheck`, so this module holds no crypto library. The algorithm is signed with the rest.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from warden_contracts.canonical import canonical_json

from warden_audit.domain.chain import iso_utc

CHECKPOINT_VERSION = 1
ALGORITHM = "Ed25519"


class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


# (key_id, signed bytes, signature) -> True when a trusted key with that id made the signature.
SignatureCheck = Callable[[str, bytes, bytes], bool]


class MalformedCheckpoint(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    merkle_root: str
    at: str
    key_id: str
    signature: str = ""  # base64 of the signature over `signed_bytes()`
    algorithm: str = ALGORITHM

    def statement(self) -> dict[str, Any]:
        return {
            "v": CHECKPOINT_VERSION,
            "alg": self.algorithm,
            "seq": self.seq,
            "head_hash": self.head_hash,
            "merkle_root": self.merkle_root,
            "at": self.at,
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        # The key id and algorithm are signed too: a signature cannot be re-labelled.
        return b"warden-audit-checkpoint\n" + canonical_json(self.statement())

    def to_json(self) -> dict[str, Any]:
        return {**self.statement(), "signature": self.signature}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Checkpoint:
        try:
            seq, head, root = raw["seq"], raw["head_hash"], raw["merkle_root"]
            at, key_id, signature = raw["at"], raw["key_id"], raw["signature"]
        except (KeyError, TypeError) as err:
            raise MalformedCheckpoint(f"missing field {err}") from None
        if type(seq) is not int or seq < 0:
            raise MalformedCheckpoint("seq must be a non-negative integer")
        if not all(isinstance(v, str) for v in (head, root, at, key_id, signature)):
            raise MalformedCheckpoint("head_hash, merkle_root, at, key_id and signature must be strings")
        return cls(seq, head, root, at, key_id, signature, str(raw.get("alg", ALGORITHM)))

    def signature_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.signature, validate=True)
        except ValueError:
            raise MalformedCheckpoint("signature is not base64") from None

    def is_signed_by(self, check: SignatureCheck) -> bool:
        try:
            return check(self.key_id, self.signed_bytes(), self.signature_bytes())
        except MalformedCheckpoint:
            return False


def signer_algorithm(signer: Signer) -> str:
    """Ed25519 for key files; the Key Vault signer's `es256-` key ids are EC P-256 (no Ed25519 there)."""
    declared = getattr(signer, "algorithm", None)
    if isinstance(declared, str):
        return declared
    return "ES256" if signer.key_id.startswith("es256-") else ALGORITHM


def sign_checkpoint(signer: Signer, seq: int, head_hash: str, merkle_root: str, at: datetime) -> Checkpoint:
    algorithm = signer_algorithm(signer)
    unsigned = Checkpoint(seq, head_hash, merkle_root, iso_utc(at), signer.key_id, algorithm=algorithm)
    signature = base64.b64encode(signer.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(seq, head_hash, merkle_root, unsigned.at, signer.key_id, signature, algorithm)
