"""Reads approver identity tokens for the record: claims always, signature when the key is known.

Audit checks the signature, issuer and audience itself, but not expiry or replay: a token that was
valid when policy saw it may have expired by the time a redelivered message is recorded, and the
record must still say who signed it. Policy is the one that enforces expiry.
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warden_audit.domain.attribution import TokenClaims, TokenReader


def _claims(body: dict[str, Any], verified: bool, problem: str = "") -> TokenClaims:
    groups = body.get("groups")
    return TokenClaims(
        subject=str(body.get("sub", "")),
        issuer=str(body.get("iss", "")),
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
        token_id=str(body.get("jti", "")),
        verified=verified,
        problem=problem,
    )


def token_reader(key: Ed25519PublicKey | None, issuer: str, audience: str) -> TokenReader:
    def read(token: str) -> TokenClaims:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as err:
            return TokenClaims("", "", (), "", False, f"unreadable token: {err}")
        if key is None:
            return _claims(unverified, False, "issuer key not configured: claims not verified")
        try:
            body = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=audience,
                issuer=issuer,
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError as err:
            return _claims(unverified, False, f"signature or claims rejected: {err}")
        return _claims(body, True)

    return read
