"""Value types and ports of the elevation authority."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from warden_contracts.events import ElevationTicket

State = Literal["activated", "deactivated", "refused"]


class Refused(Exception):
    """The authority says no; the text is the reason the requester (and the audit) gets."""


@dataclass(frozen=True)
class Request:
    requester: str  # from the subject the broker authenticated, not from the body
    principal: str  # what the body claims
    justification: str
    ttl_s: int
    action_id: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Minted:
    """Credentials of one grant: what the requester uses (secret) and when they stop working."""

    expires_at: float
    nats_jwt: str = field(repr=False)
    nats_seed: str = field(repr=False)
    extras: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Issued:
    grant_id: str
    principal: str
    ticket: ElevationTicket
    minted: Minted = field(repr=False)
    release_secret: str = field(repr=False)


@dataclass
class ActiveGrant:
    grant_id: str
    principal: str
    ticket: ElevationTicket
    expires_at: float
    justification: str
    secret_sha256: str = field(repr=False)
    # False from the grant's row until its "activated" record is out (a restart announces it then).
    announced: bool = True


@dataclass(frozen=True)
class Change:
    """One audited event: published on sre.elevation.changed.v1 before the caller hears back."""

    grant_id: str
    principal: str
    state: State
    justification: str
    correlationid: str
    expires_at: float | None = None
    action_id: str | None = None
    target: str | None = None


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TicketStore(Protocol):
    async def put(self, ticket: ElevationTicket) -> bool:
        """Store a verified ticket; False when the action already had one (a redelivery)."""

    async def get(self, action_id: str) -> ElevationTicket | None: ...

    async def oldest_open(self, principal: str, now: datetime) -> ElevationTicket | None:
        """The oldest live ticket for `principal` that no grant has been released for yet."""

    async def released(self, action_id: str) -> None: ...


class GrantStore(Protocol):
    """The grants still in force, kept across restarts: a restarted authority still releases a
    grant for the holder of its secret, and announces its expiry."""

    async def add(self, grant: ActiveGrant) -> None:
        """Store a grant not yet announced."""

    async def announced(self, grant_id: str) -> None:
        """The grant's "activated" record is out."""

    async def remove(self, grant_id: str) -> None: ...

    async def live(self) -> list[ActiveGrant]:
        """Every grant not yet released or announced as expired (expired ones included)."""


class Minter(Protocol):
    def mint(self, principal: str, ticket: ElevationTicket, ttl_s: int) -> Minted: ...


class Announcer(Protocol):
    async def __call__(self, change: Change) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
