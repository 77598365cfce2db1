"""Composition root of the audit service: settings, store, recorder, subscriptions, runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field
from warden_bus.nats_bus import NatsBus
from warden_bus.port import Bus, SubscriptionOptions
from warden_bus.runtime import Counters, ServiceRuntime, configure_logging
from warden_bus.settings import ServiceSettings
from warden_contracts import topology as topo

from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import AuditStore, Recorder
from warden_audit.handlers import AuditHandler

SERVICE = "audit"
# Audit must not give up early: a dead letter of a message audit could not record is itself
# recorded later, but the original is what investigators want. Stay under the broker's limit (10).
SUBSCRIPTION = SubscriptionOptions(max_deliveries=9, batch_size=50)


class Settings(ServiceSettings):
    audit_dir: Path | None = None  # default: <data_dir>/audit
    segment_records: int = Field(default=10_000, ge=1)

    @property
    def resolved_audit_dir(self) -> Path:
        return self.audit_dir if self.audit_dir is not None else self.data_dir / "audit"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    bus: Bus | None = None,
    store: AuditStore | None = None,
    clock: Callable[[], datetime] | None = None,
    **overrides: Any,
) -> ServiceRuntime:
    """Build the service; keyword `overrides` replace settings, `bus` / `store` / `clock` replace adapters."""
    if settings is None:
        settings = Settings(**overrides)
    elif overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    bus = bus or NatsBus(SERVICE, settings.nats_url, settings.nats_creds)
    store = store or LocalSegmentStore(settings.resolved_audit_dir, settings.segment_records)
    recorder = Recorder(store, clock or _utcnow)
    counters = Counters()
    handler = AuditHandler(recorder, bus, counters)
    for t in topo.consumed_by(SERVICE):
        bus.subscribe(t.name, handler, SUBSCRIPTION)

    async def head(_: web.Request) -> web.Response:
        seq, digest = recorder.head
        return web.json_response({"seq": seq, "hash": digest})

    return ServiceRuntime(
        name=SERVICE,
        bus=bus,
        http_port=settings.http_port,
        counters=counters,
        routes=[web.get("/v1/audit/head", head)],
        on_start=[recorder.open],
        on_stop=[recorder.close],
    )


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
