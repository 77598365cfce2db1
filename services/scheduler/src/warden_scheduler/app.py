"""Composition root of the scheduler: settings, task file, store, the tick loop, the runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator
from warden_bus.port import Bus
from warden_bus.runtime import Counters, ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_persistence import backend_of

from warden_scheduler.adapters.sql_store import SqlScheduleStore
from warden_scheduler.adapters.task_file import load_tasks
from warden_scheduler.domain.runner import Clock, Scheduler
from warden_scheduler.handlers import DuePublisher, register

SERVICE = "scheduler"
log = logging.getLogger("warden.scheduler")


class Settings(ServiceSettings):
    scheduler_tasks_file: Path | None = None  # default: the packaged tasks.yaml
    scheduler_tick_s: float = Field(5.0, gt=0, le=60)
    # A run the planner never reports frees its task after this long.
    scheduler_lease_s: int = Field(900, ge=10)
    # postgresql://user@host/db?schema=name for several schedulers; default: SQLite under <data_dir>/state/.
    scheduler_store_url: str | None = None

    @field_validator("scheduler_store_url")
    @classmethod
    def _store_url_known(cls, value: str | None) -> str | None:
        backend_of(value)  # a URL that is not postgresql:// stops the start-up
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def tick_loop(scheduler: Scheduler, every_s: float, counters: Counters) -> Callable[[], Awaitable[None]]:
    async def loop() -> None:
        while True:
            try:
                result = await scheduler.tick()
                counters.inc("scheduler_ticks")
                if result.held:
                    counters.inc("task_runs", len(result.held), outcome="held")
            except Exception:
                # The bus or the store is down: the due runs are still due on the next tick.
                log.exception("scheduler tick failed; retrying")
            await asyncio.sleep(every_s)

    return loop


@dataclass(frozen=True)
class SchedulerPorts:
    """Components `create_app` builds unless given one (tests); None builds the production one."""

    # The broker: from `bus_backend`.
    bus: Bus | None = None
    # The time cron expressions fire by and run leases expire by (aware datetimes).
    clock: Clock | None = None


def create_app(
    settings: Settings | None = None, ports: SchedulerPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the service. `settings_overrides` set Settings fields (any other name is a TypeError)."""
    reject_unknown_settings(Settings, settings_overrides)
    ports = ports or SchedulerPorts()
    if settings is None:
        settings = Settings(**settings_overrides)
    elif settings_overrides:
        settings = settings.model_copy(update=settings_overrides)
    bus = ports.bus or bus_from_settings(SERVICE, settings)
    clock = ports.clock or utc_now
    tasks = load_tasks(settings.scheduler_tasks_file).enabled()
    store = SqlScheduleStore(settings.scheduler_store_url, settings.data_dir / "state" / "scheduler.db")
    runtime = ServiceRuntime(name=SERVICE, bus=bus, http_host=settings.http_host, http_port=settings.http_port)
    scheduler = Scheduler(
        tasks,
        store,
        DuePublisher(bus, runtime.counters),
        clock,
        lease_ttl=timedelta(seconds=settings.scheduler_lease_s),
    )
    register(bus, scheduler, runtime.counters)

    async def list_tasks(_: web.Request) -> web.Response:
        now = clock()
        return web.json_response(
            {
                "tasks": [
                    {"name": t.name, "kind": t.kind, "cron": t.cron, "next": t.next_fire(now).isoformat()}
                    for t in scheduler.tasks
                ]
            }
        )

    runtime.routes.append(web.get("/v1/tasks", list_tasks))
    runtime.on_start.append(store.open)
    runtime.on_stop.append(store.close)
    runtime.background.append(tick_loop(scheduler, settings.scheduler_tick_s, runtime.counters))
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
