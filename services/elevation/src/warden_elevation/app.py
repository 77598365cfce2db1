"""Composition root of the elevation authority: the only place that reads settings.

`create_app(settings, **overrides)`; overrides replace ports for tests: bus, minter, clock,
trusted_keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from warden_bus.elevation import serve_authority
from warden_bus.embedded_auth import AuthMaterial
from warden_bus.runtime import ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings
from warden_contracts import topology as topo
from warden_security.keys import load_or_create_private_key
from warden_security.signatures import load_verifying_key, trust
from warden_security.tokens import ELEVATION_ISSUER, TokenIssuer

from warden_elevation.adapters.credentials import EmbeddedMinter
from warden_elevation.adapters.sqlite_grants import SqliteGrantStore
from warden_elevation.adapters.sqlite_tickets import SqliteTicketStore
from warden_elevation.domain.authority import Authority
from warden_elevation.handlers import BusAnnouncer, Handlers

SERVICE = "elevation"
TICKETS = "sre.elevation.ticketed.v1"
log = logging.getLogger("warden.elevation")
OVERRIDES = frozenset({"bus", "minter", "clock", "trusted_keys"})


class Settings(ServiceSettings):
    policy_pubkey: Path | None = Field(None, description="the policy's public key: tickets must verify with it")
    # Signs the sandbox write tokens (the sandbox trusts its public half).
    elevation_key: Path | None = None
    # The NATS account's folder (account.seed): signs the time-boxed user JWTs.
    nats_account_dir: Path | None = None
    max_ttl_s: int = Field(600, ge=1, le=3600)
    min_ttl_s: int = Field(5, ge=1, le=3600)
    ticket_wait_s: float = Field(2.0, ge=0, le=30)
    expiry_poll_s: float = Field(0.5, gt=0, le=10)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state" / "elevation.db"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _required(value: Path | None, variable: str) -> Path:
    if value is None:
        raise ValueError(f"the elevation authority needs {variable}")
    return value


def create_app(settings: Settings | None = None, **overrides: Any) -> ServiceRuntime:
    unknown = set(overrides) - OVERRIDES
    if unknown:
        raise TypeError(f"unknown overrides: {sorted(unknown)}")
    s = settings or Settings()
    bus = overrides.get("bus") or bus_from_settings(SERVICE, s)
    trusted = overrides.get("trusted_keys")
    if trusted is None:
        trusted = trust([load_verifying_key(_required(s.policy_pubkey, "WARDEN_POLICY_PUBKEY"))])
    minter = overrides.get("minter") or EmbeddedMinter(
        AuthMaterial(_required(s.nats_account_dir, "WARDEN_NATS_ACCOUNT_DIR")),
        TokenIssuer(load_or_create_private_key(_required(s.elevation_key, "WARDEN_ELEVATION_KEY")), ELEVATION_ISSUER),
    )
    tickets = SqliteTicketStore(s.db_path)
    grants = SqliteGrantStore(s.db_path)
    authority = Authority(
        tickets=tickets,
        minter=minter,
        announce=BusAnnouncer(bus),
        clock=overrides.get("clock") or SystemClock(),
        trusted=trusted,
        eligible=topo.elevation_eligible(),
        max_ttl_s=s.max_ttl_s,
        min_ttl_s=s.min_ttl_s,
        ticket_wait_s=s.ticket_wait_s,
        grants=grants,
    )
    runtime = ServiceRuntime(SERVICE, bus, http_host=s.http_host, http_port=s.http_port)
    handlers = Handlers(authority, runtime.counters.inc)
    bus.subscribe(TICKETS, handlers.on_ticket)

    async def serve() -> None:
        # Supervised by the runtime: a lost responder connection is re-established.
        nc = await serve_authority(s.nats_url, str(s.nats_creds), handlers.on_request, handlers.on_release)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def expire() -> None:
        await handlers.expiry_loop(s.expiry_poll_s)

    runtime.background += [serve, expire]

    async def restore() -> None:
        if restored := await authority.restore():
            log.info("%d grants still in force from before the restart", restored)

    runtime.on_start += [tickets.open, grants.open, restore]
    runtime.on_stop += [tickets.close, grants.close]
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
