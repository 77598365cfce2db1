"""Per-route webhook authentication: a bearer token, or an HMAC-SHA256 signature with a timestamp.

HMAC: the sender computes `hex(HMAC-SHA256(secret, f"{timestamp}:".encode() + body))` and sends it
in the signature header (optionally prefixed `sha256=`) with the Unix timestamp (seconds) in the
timestamp header. A signature older or newer than the tolerance is refused, and so is a
signature already seen inside the tolerance window: a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

SIGNATURE_HEADER = "X-Warden-Signature"
TIMESTAMP_HEADER = "X-Warden-Timestamp"
DEFAULT_TOLERANCE_S = 300
# Bounded so a flood of valid requests cannot grow the replay cache without limit; at the
# bound the oldest signatures go first, which are the ones closest to expiring anyway.
MAX_REMEMBERED_SIGNATURES = 200_000


class Authenticator(Protocol):
    scheme: str
    signs_body: bool  # True: verify() needs the whole body

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when authentic, else the reason to refuse (never echoing a secret)."""

    def challenge(self) -> dict[str, str]:
        """Headers for a 401 answer."""


@dataclass
class BearerAuth:
    token: str
    scheme: str = "bearer"
    signs_body: bool = False

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        scheme, _, presented = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return "missing bearer token"
        if not hmac.compare_digest(presented.strip().encode(), self.token.encode()):
            return "invalid bearer token"
        return None

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="warden-triage"'}


# Azure Monitor action group webhooks cannot send headers; on this route alone the bearer token
# may ride in the `token` query parameter (as `warden connect azure-monitor` prints it).
QUERY_TOKEN_ROUTES = frozenset({"azure-monitor"})


def presented_headers(route: str, headers: Mapping[str, str], query: Mapping[str, str]) -> Mapping[str, str]:
    """The headers a bearer check reads: a `?token=` stands in for a missing Authorization header
    on the routes that allow it, and nowhere else."""
    token = query.get("token", "").strip()
    if route not in QUERY_TOKEN_ROUTES or not token or headers.get("Authorization"):
        return headers
    return {**headers, "Authorization": f"Bearer {token}"}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature a sender puts in the signature header (without the `sha256=` prefix)."""
    return hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


@dataclass
class HmacAuth:
    secret: str
    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER
    tolerance_s: int = DEFAULT_TOLERANCE_S
    clock: Callable[[], float] = time.time
    scheme: str = "hmac-sha256"
    signs_body: bool = True
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        presented = headers.get(self.signature_header, "").strip().removeprefix("sha256=")
        stamp = headers.get(self.timestamp_header, "").strip()
        if not presented or not stamp:
            return f"missing {self.signature_header} or {self.timestamp_header} header"
        if not stamp.isdigit() or len(stamp) > 12:
            return f"{self.timestamp_header} must be Unix seconds"
        now = self.clock()
        if abs(now - int(stamp)) > self.tolerance_s:
            return f"{self.timestamp_header} is more than {self.tolerance_s}s away from the server clock"
        expected = sign(self.secret, int(stamp), body)
        if not hmac.compare_digest(presented.lower().encode(), expected.encode()):
            return "signature does not match the body"
        self._forget_expired(now)
        if expected in self._seen:
            return "signature already used (replay)"
        self._seen[expected] = now
        if len(self._seen) > MAX_REMEMBERED_SIGNATURES:
            self._seen.popitem(last=False)
        return None

    def _forget_expired(self, now: float) -> None:
        horizon = now - 2 * self.tolerance_s
        while self._seen:
            signature, seen_at = next(iter(self._seen.items()))
            if seen_at >= horizon:
                return
            del self._seen[signature]

    def challenge(self) -> dict[str, str]:
        headers = f"{self.timestamp_header} {self.signature_header}"
        return {"WWW-Authenticate": f'HMAC-SHA256 realm="warden-triage", headers="{headers}"'}
