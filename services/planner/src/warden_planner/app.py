"""Composition root: the only place that reads settings and builds adapters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from warden_bus.nats_bus import NatsBus
from warden_bus.port import Bus
from warden_bus.runtime import ServiceRuntime, configure_logging
from warden_bus.settings import ServiceSettings
from warden_contracts.catalog import default_catalog

from warden_planner.adapters.sandbox_observer import SandboxObserver
from warden_planner.adapters.sqlite_store import SqliteStore
from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.observer import Clock, ObserverTools
from warden_planner.domain.planner import Planner, RunbookPlanner
from warden_planner.domain.runbooks import RunbookConfig
from warden_planner.handlers import Outbox, register

SERVICE = "planner"
# Collaborators tests may replace; every other override is a Settings field.
COMPONENTS = ("bus", "observer", "planner", "clock")


class Settings(ServiceSettings):
    sandbox_url: str = "http://127.0.0.1:8700"
    sandbox_timeout_s: float = 5.0
    recent_deploy_window_min: int = 60
    memory_deploy_window_min: int = 30
    memory_threshold_pct: float = 80.0
    log_lines: int = 20
    max_attempts: int = 2


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings | None = None, **overrides: Any) -> ServiceRuntime:
    components = {k: overrides.pop(k) for k in COMPONENTS if k in overrides}
    if settings is None:
        settings = Settings(**overrides)
    elif overrides:
        settings = settings.model_copy(update=overrides)
    clock: Clock = components.get("clock", utc_now)
    catalog = default_catalog()
    bus: Bus = components.get("bus") or NatsBus(SERVICE, settings.nats_url, settings.nats_creds)
    store = SqliteStore(settings.data_dir / "state" / "planner.db")
    sandbox = SandboxObserver(settings.sandbox_url, timeout_s=settings.sandbox_timeout_s)
    observer: ObserverTools = components.get("observer", sandbox)
    config = RunbookConfig(
        memory_threshold_pct=settings.memory_threshold_pct,
        memory_deploy_window_min=settings.memory_deploy_window_min,
        recent_deploy_window_min=settings.recent_deploy_window_min,
        log_lines=settings.log_lines,
    )
    planner: Planner = components.get("planner") or RunbookPlanner(observer, catalog, clock, config)
    service = PlanningService(planner, store, catalog, clock, max_attempts=settings.max_attempts)
    runtime = ServiceRuntime(name=SERVICE, bus=bus, http_port=settings.http_port)
    outbox = Outbox(store, bus, runtime.counters)
    register(bus, service, outbox, runtime.counters)
    runtime.on_start.append(store.open)
    runtime.on_stop += [sandbox.close, store.close]
    # Messages committed before a crash but never acknowledged by the broker go out on start.
    runtime.background.append(outbox.flush)
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
