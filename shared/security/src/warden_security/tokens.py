"""Short-lived signed tokens (JWT, EdDSA) for approver identity and sandbox write access.

In the embedded mode a local issuer stands in for Entra ID; verification is the same code path
as for any JWKS-backed issuer: signature, issuer, audience, expiry, required claims.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

LOCAL_APPROVER_ISSUER = "urn:warden:local-issuer"
APPROVAL_AUDIENCE = "urn:warden:policy"
ELEVATION_ISSUER = "urn:warden:elevation-authority"
SANDBOX_AUDIENCE = "urn:warden:sandbox"


class TokenRejected(Exception):
    pass


@dataclass(frozen=True)
class TokenIssuer:
    key: Ed25519PrivateKey
    issuer: str

    def issue(self, subject: str, audience: str, ttl_s: int, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="EdDSA")


@dataclass(frozen=True)
class TokenVerifier:
    key: Ed25519PublicKey
    issuer: str
    audience: str
    leeway_s: int = 5

    def verify(self, token: str, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
        return decode_verified(token, self.key, ("EdDSA",), self.issuer, self.audience, self.leeway_s, require)


def decode_verified(
    token: str,
    key: Any,
    algorithms: tuple[str, ...],
    issuer: str,
    audience: str,
    leeway_s: int,
    require: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Verify signature, issuer, audience and expiry; every failure becomes a TokenRejected that says why."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", *require]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("token expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("token audience is not this service") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("token issuer is not trusted") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("token signature does not verify") from None
    except jwt.PyJWTError as err:
        raise TokenRejected(f"invalid token: {err}") from None
