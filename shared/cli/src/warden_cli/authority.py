"""The embedded elevation authority: the local stand-in for Entra PIM.

It answers the executor's elevation requests with a NATS user JWT that the server itself
expires, plus a sandbox write token with the same expiry, and publishes every activation and
deactivation on `sre.elevation.changed.v1` for audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats
from warden_bus.elevation import ElevationGrant, ElevationRequest, mint_elevated_user, serve_authority
from warden_bus.embedded_auth import AuthMaterial
from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ElevationChanged
from warden_contracts.topology import elevated_for
from warden_security.keys import load_or_create_private_key
from warden_security.tokens import ELEVATION_ISSUER, SANDBOX_AUDIENCE, TokenIssuer

log = logging.getLogger("warden.elevation")
MAX_TTL_S = 600
ELIGIBLE = {"executor"}


@dataclass
class ElevationAuthority:
    url: str
    material: AuthMaterial
    key_path: Path
    bus: NatsBus = field(init=False)
    _active: dict[str, tuple[ElevationGrant, str]] = field(default_factory=dict)
    _expiry_tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _nc: nats.NATS | None = None

    def __post_init__(self) -> None:
        self.bus = NatsBus("elevation", self.url, self.material.creds("elevation"))
        self._tokens = TokenIssuer(load_or_create_private_key(self.key_path), ELEVATION_ISSUER)

    async def start(self) -> None:
        await self.bus.start()
        self._nc = await serve_authority(self.url, str(self.material.creds("elevation")), self.grant, self.release)

    async def stop(self) -> None:
        for task in self._expiry_tasks.values():
            task.cancel()
        if self._nc:
            await self._nc.close()
        await self.bus.stop()

    async def grant(self, request: ElevationRequest) -> ElevationGrant:
        if request.principal not in ELIGIBLE:
            await self._announce(str(uuid.uuid4()), request.principal, "refused", request.justification, None)
            raise PermissionError(f"{request.principal} has no eligibility")
        ttl = max(5, min(request.ttl_s, MAX_TTL_S))
        jwt, seed, expires_at = mint_elevated_user(self.material, request.principal, ttl)
        grant = ElevationGrant(
            grant_id=str(uuid.uuid4()),
            principal=request.principal,
            expires_at=expires_at,
            nats_jwt=jwt,
            nats_seed=seed,
            extras={"sandbox_token": self._tokens.issue(request.principal, SANDBOX_AUDIENCE, ttl, targets=["*"])},
        )
        # No audit record, no elevation: the grant is returned only after the broker acknowledged it.
        await self._announce(grant.grant_id, grant.principal, "activated", request.justification, expires_at)
        self._active[grant.grant_id] = (grant, request.justification)
        self._expiry_tasks[grant.grant_id] = asyncio.create_task(self._expire(grant.grant_id, ttl))
        return grant

    async def release(self, grant_id: str) -> None:
        entry = self._active.pop(grant_id, None)
        task = self._expiry_tasks.pop(grant_id, None)
        if task and task is not asyncio.current_task():
            task.cancel()
        if entry:
            grant, why = entry
            await self._announce(grant_id, grant.principal, "deactivated", f"released: {why}", grant.expires_at)

    async def _expire(self, grant_id: str, ttl: float) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(ttl)
            entry = self._active.pop(grant_id, None)
            self._expiry_tasks.pop(grant_id, None)
            if entry:
                await self._announce(grant_id, entry[0].principal, "deactivated", "expired", entry[0].expires_at)

    async def _announce(self, grant_id: str, principal: str, state: str, why: str, expires_at: float | None) -> None:
        payload = ElevationChanged(
            grant_id=grant_id,
            principal=principal,
            state=state,
            justification=why,
            expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
            scope=[t.name for t in elevated_for(principal)],
        )
        correlation = why.split("incident ")[-1].split()[0] if "incident " in why else f"elevation:{grant_id}"
        await self.bus.publish(
            envelope_for("sre.elevation.changed.v1", payload, source="warden/elevation", correlationid=correlation)
        )
        log.info("elevation %s for %s (%s)", state, principal, why)
