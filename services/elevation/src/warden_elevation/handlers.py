"""Thin glue: tickets from the bus, requests and releases from the request-reply subjects,
changes to sre.elevation.changed.v1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from warden_bus.elevation import ElevationGrant, ElevationRequest, ReleaseRequest
from warden_bus.port import Bus
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ElevationChanged, ElevationTicket

from warden_elevation.domain.authority import Authority
from warden_elevation.domain.model import Change, Request

SOURCE = "warden/elevation"
CHANGED = "sre.elevation.changed.v1"
log = logging.getLogger("warden.elevation")
Count = Callable[[str], None]


class BusAnnouncer:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def __call__(self, change: Change) -> None:
        payload = ElevationChanged(
            grant_id=change.grant_id,
            principal=change.principal,
            state=change.state,
            justification=change.justification,
            expires_at=datetime.fromtimestamp(change.expires_at, UTC) if change.expires_at else None,
            scope=[t.name for t in topo.elevated_for(change.principal)] if change.state == "activated" else [],
            action_id=change.action_id,
            target=change.target,
        )
        await self._bus.publish(envelope_for(CHANGED, payload, source=SOURCE, correlationid=change.correlationid))


class Handlers:
    def __init__(self, authority: Authority, count: Count) -> None:
        self._authority, self._count = authority, count

    async def on_ticket(self, env: Envelope) -> None:
        problems = await self._authority.accept_ticket(env.payload(ElevationTicket))
        self._count("tickets_refused" if problems else "tickets_accepted")

    async def on_request(self, requester: str, body: ElevationRequest) -> ElevationGrant:
        request = Request(requester, body.principal, body.justification, body.ttl_s, body.action_id, body.target)
        try:
            issued = await self._authority.grant(request)
        except Exception:
            self._count("refusals")
            raise
        self._count("grants")
        return ElevationGrant(
            grant_id=issued.grant_id,
            principal=issued.principal,
            expires_at=issued.minted.expires_at,
            action_id=issued.ticket.action_id,
            target=issued.ticket.target,
            incident_id=issued.ticket.incident_id,
            nats_jwt=issued.minted.nats_jwt,
            nats_seed=issued.minted.nats_seed,
            extras=dict(issued.minted.extras),
            release_secret=issued.release_secret,
        )

    async def on_release(self, requester: str, body: ReleaseRequest) -> None:
        try:
            await self._authority.release(requester, body.grant_id, body.secret)
        except Exception:
            self._count("releases_refused")
            raise
        self._count("releases")

    async def expiry_loop(self, poll_s: float) -> None:
        while True:
            expired = await self._authority.expire_due()
            if expired:
                self._count("expiries")
            await asyncio.sleep(poll_s)
