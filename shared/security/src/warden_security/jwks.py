"""Identity tokens from an external issuer (Entra ID) verified against its JWKS, and a router
that picks the verifier by the token's issuer. The local issuer and JWKS issuers share one path:
signature, issuer, audience, expiry and required claims, or TokenRejected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from warden_security.tokens import TokenRejected, decode_verified

# Algorithms an IdP signs identity tokens with; "none" and HMAC are never accepted.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class Verifier(Protocol):
    def verify(self, token: str, *, require: tuple[str, ...] = ()) -> dict[str, Any]: ...


@dataclass
class JwksTokenVerifier:
    jwks_url: str
    issuer: str
    audience: str
    leeway_s: int = 5
    algorithms: tuple[str, ...] = ASYMMETRIC
    # PyJWKClient caches the key set and refetches when a token names an unknown key id.
    _client: jwt.PyJWKClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def verify(self, token: str, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
        try:
            signing_key = self._client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as err:
            raise TokenRejected(f"issuer keys unavailable: {err}") from None
        except jwt.PyJWKClientError as err:
            raise TokenRejected(f"signing key not published by the issuer: {err}") from None
        except jwt.PyJWTError as err:
            raise TokenRejected(f"invalid token: {err}") from None
        return decode_verified(
            token, signing_key.key, tuple(self.algorithms), self.issuer, self.audience, self.leeway_s, require
        )


@dataclass(frozen=True)
class IssuerRouter:
    """Routes by the (unverified) `iss` claim only to choose a verifier; that verifier then checks
    the issuer again against the signature, so a forged `iss` gains nothing."""

    verifiers: Mapping[str, Verifier]

    def verify(self, token: str, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as err:
            raise TokenRejected(f"invalid token: {err}") from None
        verifier = self.verifiers.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise TokenRejected("token issuer is not trusted")
        return verifier.verify(token, require=require)
