"""Composition root of the elevation authority: the only place that reads settings.

`create_app(settings, ports, **settings_overrides)`: `ElevationPorts` replaces ports (tests);
keyword overrides set Settings fields only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from warden_bus.elevation import serve_authority
from warden_bus.embedded_auth import AuthMaterial
from warden_bus.port import Bus
from warden_bus.runtime import ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts import topology as topo
from warden_security.keys import load_or_create_private_key
from warden_security.signatures import PublicKey, load_verifying_key, trust
from warden_security.tokens import ELEVATION_ISSUER, TokenIssuer

from warden_elevation.adapters.credentials import EmbeddedMinter
from warden_elevation.adapters.sqlite_grants import SqliteGrantStore
from warden_elevation.adapters.sqlite_tickets import SqliteTicketStore
from warden_elevation.domain.authority import Authority
from warden_elevation.domain.model import Clock, Minter
from warden_elevation.handlers import BusAnnouncer, Handlers

SERVICE = "elevation"
TICKETS = "sre.elevation.ticketed.v1"
log = logging.getLogger("warden.elevation")


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


@dataclass(frozen=True)
class ElevationPorts:
    """Ports `create_app` builds from the settings unless given one; None builds the production one."""

    # The broker: from `bus_backend`.
    bus: Bus | None = None
    # Mints the time-boxed credentials: NATS user JWTs and sandbox write tokens.
    minter: Minter | None = None
    clock: Clock | None = None
    # Keys tickets must verify with, by key id; default: `policy_pubkey`.
    trusted_keys: Mapping[str, PublicKey] | None = None


def create_app(
    settings: Settings | None = None, ports: ElevationPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the authority. `settings_overrides` set Settings fields (any other name is a TypeError)."""
    reject_unknown_settings(Settings, settings_overrides)
    ports = ports or ElevationPorts()
    if settings is None:
        s = Settings(**settings_overrides)
    elif settings_overrides:
        s = Settings(**(settings.model_dump() | settings_overrides))
    else:
        s = settings
    bus = ports.bus or bus_from_settings(SERVICE, s)
    trusted = ports.trusted_keys
    if trusted is None:
        trusted = trust([load_verifying_key(_required(s.policy_pubkey, "WARDEN_POLICY_PUBKEY"))])
    minter = ports.minter or EmbeddedMinter(
        AuthMaterial(_required(s.nats_account_dir, "WARDEN_NATS_ACCOUNT_DIR")),
        TokenIssuer(load_or_create_private_key(_required(s.elevation_key, "WARDEN_ELEVATION_KEY")), ELEVATION_ISSUER),
    )
    tickets = SqliteTicketStore(s.db_path)
    grants = SqliteGrantStore(s.db_path)
    authority = Authority(
        tickets=tickets,
        minter=minter,
        announce=BusAnnouncer(bus),
        clock=ports.clock or SystemClock(),
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
