"""The scheduler against its real SQLite store: missed runs reported, never two runs of a task at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_contracts.events import TaskDue
from warden_scheduler.adapters.sqlite_store import SqliteScheduleStore
from warden_scheduler.domain.runner import Scheduler, run_id
from warden_scheduler.domain.tasks import TaskDefinition

T0 = datetime(2026, 11, 20, 6, 0, 30, tzinfo=UTC)
EVERY_MINUTE = TaskDefinition(name="health", cron="* * * * *", kind="health_check")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteScheduleStore]:
    s = SqliteScheduleStore(tmp_path / "scheduler.db")
    await s.open()
    yield s
    await s.close()


def scheduler(store: SqliteScheduleStore, clock: Clock, sent: list[TaskDue]) -> Scheduler:
    async def publish(due: TaskDue) -> None:
        sent.append(due)

    return Scheduler([EVERY_MINUTE], store, publish, clock, lease_ttl=timedelta(minutes=30))


async def test_first_sight_waits_for_the_next_fire_then_runs_once(store: SqliteScheduleStore) -> None:
    clock, sent = Clock(), []
    s = scheduler(store, clock, sent)
    assert (await s.tick()).started == []
    clock.advance(seconds=40)  # 06:01:10
    [due] = (await s.tick()).started
    assert due.scheduled_for == T0.replace(minute=1, second=0)
    assert due.missed == [] and due.missed_count == 0
    assert due.run_id == run_id("health", due.scheduled_for)


async def test_a_running_task_is_not_started_again_and_the_overlap_is_reported(store: SqliteScheduleStore) -> None:
    clock, sent = Clock(), []
    s = scheduler(store, clock, sent)
    await s.tick()
    clock.advance(seconds=40)
    [first] = (await s.tick()).started
    clock.advance(minutes=3)  # three more fires while the first run is still going
    result = await s.tick()
    assert result.started == [] and result.held == ["health"]
    assert await s.finished("health", first.run_id)
    [second] = (await s.tick()).started
    assert second.scheduled_for == T0.replace(minute=4, second=0)
    assert second.missed == [T0.replace(minute=2, second=0), T0.replace(minute=3, second=0)]
    assert second.missed_count == 2
    assert not await s.finished("health", first.run_id)  # a stale report frees nothing


async def test_missed_runs_after_downtime_are_reported_not_replayed(tmp_path: Path) -> None:
    clock, sent = Clock(), []
    path = tmp_path / "scheduler.db"
    before = SqliteScheduleStore(path)
    await before.open()
    s = scheduler(before, clock, sent)
    await s.tick()
    clock.advance(seconds=40)
    [first] = (await s.tick()).started
    await s.finished("health", first.run_id)
    await before.close()

    clock.advance(hours=2)  # down for two hours
    after = SqliteScheduleStore(path)
    await after.open()
    try:
        [due] = (await scheduler(after, clock, sent).tick()).started
    finally:
        await after.close()
    assert due.missed_count == 119
    assert len(due.missed) == 50 and due.missed[-1] == due.scheduled_for - timedelta(minutes=1)


async def test_two_schedulers_sharing_the_store_start_a_run_once(tmp_path: Path) -> None:
    clock, sent = Clock(), []
    stores = [SqliteScheduleStore(tmp_path / "scheduler.db") for _ in range(2)]
    for st in stores:
        await st.open()
    try:
        schedulers = [scheduler(st, clock, sent) for st in stores]
        await schedulers[0].tick()
        clock.advance(seconds=40)
        await asyncio.gather(*(sch.tick() for sch in schedulers))
        assert len(sent) == 1
    finally:
        for st in stores:
            await st.close()


async def test_a_failed_publish_frees_the_task_for_the_next_tick(store: SqliteScheduleStore) -> None:
    clock, sent = Clock(), []
    failing = True

    async def publish(due: TaskDue) -> None:
        if failing:
            raise ConnectionError("bus down")
        sent.append(due)

    s = Scheduler([EVERY_MINUTE], store, publish, clock)
    await s.tick()
    clock.advance(seconds=40)
    with pytest.raises(ConnectionError):
        await s.tick()
    failing = False
    [due] = (await s.tick()).started
    assert due.scheduled_for == T0.replace(minute=1, second=0)
