"""Composition root of the scheduler: settings, task file, store, the tick loop, the runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator
from warden_bus.port import Bus
from warden_bus.runtime import Counters, ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings
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


def create_app(
    settings: Settings | None = None, *, bus: Bus | None = None, clock: Clock | None = None, **overrides: Any
) -> ServiceRuntime:
    if settings is None:
        settings = Settings(**overrides)
    elif overrides:
        settings = settings.model_copy(update=overrides)
    bus = bus or bus_from_settings(SERVICE, settings)
    tasks = load_tasks(settings.scheduler_tasks_file).enabled()
    store = SqlScheduleStore(settings.scheduler_store_url, settings.data_dir / "state" / "scheduler.db")
    runtime = ServiceRuntime(name=SERVICE, bus=bus, http_host=settings.http_host, http_port=settings.http_port)
    scheduler = Scheduler(
        tasks,
        store,
        DuePublisher(bus, runtime.counters),
        clock or utc_now,
        lease_ttl=timedelta(seconds=settings.scheduler_lease_s),
    )
    register(bus, scheduler, runtime.counters)

    async def list_tasks(_: web.Request) -> web.Response:
        now = (clock or utc_now)()
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
