"""Decide which tasks are due and hand each due run to the planner, at most one run per task at a time.

- Missed runs (the scheduler was down, or the previous run still held the task) are reported on
  the next run's `TaskDue.missed`, never replayed one by one and never silently dropped.
- A persisted lease, taken atomically before publishing and freed when the planner reports (or
  when it expires), keeps a task from running twice concurrently, across restarts and replicas.
- The run id is derived from the task and its scheduled time, so a crash between publish and
  bookkeeping republishes the same id and the broker drops the duplicate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from warden_contracts.events import TaskDue

from warden_scheduler.domain.tasks import TaskDefinition

log = logging.getLogger("warden.scheduler")
Clock = Callable[[], datetime]
_RUN_NAMESPACE = uuid.UUID("0b9f3c4e-2d55-4c1f-8a77-5e2b9d3f6a01")
# Missed times listed on a run; the count beyond is still reported in the log and metrics.
MISSED_LISTED = 50


def run_id(task: str, scheduled_for: datetime) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{task}@{scheduled_for.isoformat()}"))


@dataclass(frozen=True)
class TaskState:
    name: str
    first_seen: datetime
    last_fire: datetime | None
    lease_run_id: str | None
    lease_until: datetime | None


class ScheduleStore(Protocol):
    async def state(self, task: str, now: datetime) -> TaskState:
        """The task's state; a task seen for the first time starts its schedule at `now`."""

    async def try_lease(
        self, task: str, run: str, scheduled_for: datetime, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Atomically take the task's lease for `run`, unless another holder has an unexpired lease
        or a run for `scheduled_for` (or later) was already handed over."""

    async def fired(self, task: str, run: str, scheduled_for: datetime) -> None:
        """Record that `run` (holding the lease) was handed over for `scheduled_for`."""

    async def release(self, task: str, run: str) -> bool:
        """Free the lease if `run` still holds it; False when it did not."""


PublishDue = Callable[[TaskDue], Awaitable[None]]


@dataclass(frozen=True)
class TickResult:
    started: list[TaskDue]
    held: list[str]  # due, but the previous run still holds the task


class Scheduler:
    def __init__(
        self,
        tasks: list[TaskDefinition],
        store: ScheduleStore,
        publish: PublishDue,
        clock: Clock,
        *,
        lease_ttl: timedelta = timedelta(minutes=15),
        holder: str | None = None,
    ) -> None:
        self._holder = holder or f"scheduler-{uuid.uuid4()}"
        self._tasks = tasks
        self._store = store
        self._publish = publish
        self._clock = clock
        self._lease_ttl = lease_ttl

    @property
    def tasks(self) -> list[TaskDefinition]:
        return list(self._tasks)

    async def tick(self) -> TickResult:
        started: list[TaskDue] = []
        held: list[str] = []
        for task in self._tasks:
            due = await self._maybe_start(task)
            if due is True:
                held.append(task.name)
            elif due is not None:
                started.append(due)
        return TickResult(started, held)

    async def _maybe_start(self, task: TaskDefinition) -> TaskDue | bool | None:
        now = self._clock()
        state = await self._store.state(task.name, now)
        fires, total = task.fires_between(state.last_fire or state.first_seen, now, MISSED_LISTED + 1)
        if not fires:
            return None
        scheduled_for = fires[-1]
        run = run_id(task.name, scheduled_for)
        if not await self._store.try_lease(task.name, run, scheduled_for, self._holder, now, now + self._lease_ttl):
            log.info("%s is due but its previous run is still going; it will be reported as missed", task.name)
            return True
        due = TaskDue(
            task=task.name,
            run_id=run,
            kind=task.kind,
            scheduled_for=scheduled_for,
            cron=task.cron,
            read_only=task.read_only,
            description=task.description,
            params=task.params,
            missed=fires[:-1],
            missed_count=total - 1,
        )
        if total > 1:
            log.warning(
                "%s missed %d scheduled run(s) since %s; running once for %s",
                task.name,
                total - 1,
                (state.last_fire or state.first_seen).isoformat(),
                scheduled_for.isoformat(),
                extra={"correlationid": f"task:{task.name}:{run}"},
            )
        try:
            await self._publish(due)
        except Exception:
            await self._store.release(task.name, run)  # nothing started: the next tick tries again
            raise
        await self._store.fired(task.name, run, scheduled_for)
        return due

    async def finished(self, task: str, run: str) -> bool:
        return await self._store.release(task, run)
