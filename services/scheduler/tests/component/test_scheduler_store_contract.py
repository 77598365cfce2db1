"""The schedule store contract on SQLite and the machine's PostgreSQL alike: first sight, the
lease as a compare-and-set (one holder, re-entrant for its run, free after expiry, never again
for a time already handed over), release by its run only, and replicas: store instances sharing
one database racing for one lease, and two schedulers ticking together, start a run once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from warden_contracts.events import TaskDue
from warden_scheduler.adapters.sql_store import SqlScheduleStore
from warden_scheduler.app import Settings
from warden_scheduler.domain.runner import Scheduler
from warden_scheduler.domain.tasks import TaskDefinition
from warden_testkit.postgres import Replicas, replicas_on

T0 = datetime(2026, 11, 20, 6, 0, 30, tzinfo=UTC)
EVERY_MINUTE = TaskDefinition(name="health", cron="* * * * *", kind="health_check")


@pytest.fixture(params=["sqlite", "postgres"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replicas[SqlScheduleStore]]:
    async with replicas_on(request.param, SqlScheduleStore, tmp_path / "state" / "scheduler.db", "scheduler") as stores:
        yield stores


async def test_first_sight_starts_the_schedule_once(replicas: Replicas) -> None:
    store = await replicas.open()
    first = await store.state("health", T0)
    again = await store.state("health", T0 + timedelta(hours=1))
    assert first == again
    assert (first.first_seen, first.last_fire, first.lease_run_id, first.lease_until) == (T0, None, None, None)


async def test_the_lease_is_a_compare_and_set(replicas: Replicas) -> None:
    store = await replicas.open()
    await store.state("health", T0)
    slot, until = T0.replace(second=0) + timedelta(minutes=1), T0 + timedelta(minutes=30)
    assert await store.try_lease("health", "run-1", slot, "a", T0, until)
    assert not await store.try_lease("health", "run-2", slot, "b", T0, until)  # held by a
    assert await store.try_lease("health", "run-1", slot, "a", T0, until)  # the holder itself may renew
    state = await store.state("health", T0)
    assert (state.lease_run_id, state.lease_until) == ("run-1", until)
    assert await store.try_lease("health", "run-2", slot, "b", until, until + timedelta(minutes=30))  # expired
    await store.fired("health", "run-1", slot)  # run-1 lost the lease: nothing recorded
    assert (await store.state("health", T0)).last_fire is None
    await store.fired("health", "run-2", slot)
    assert (await store.state("health", T0)).last_fire == slot
    assert not await store.release("health", "run-1") and await store.release("health", "run-2")
    assert not await store.try_lease("health", "run-3", slot, "c", T0, until)  # this time was handed over
    assert await store.try_lease("health", "run-4", slot + timedelta(minutes=1), "c", T0, until)


async def test_replicas_racing_for_one_lease_get_it_once(replicas: Replicas) -> None:
    stores = [await replicas.open() for _ in range(2)]
    await stores[0].state("health", T0)
    for minute in range(1, 6):
        slot = T0.replace(second=0) + timedelta(minutes=minute)
        attempts = [
            stores[i % 2].try_lease("health", f"run-{minute}-{i}", slot, f"holder-{i}", T0, T0 + timedelta(hours=1))
            for i in range(8)
        ]
        won = [i for i, ok in enumerate(await asyncio.gather(*attempts)) if ok]
        assert len(won) == 1, (minute, won)
        winner = won[0]
        await stores[winner % 2].fired("health", f"run-{minute}-{winner}", slot)
        assert await stores[0].release("health", f"run-{minute}-{winner}")


async def test_two_schedulers_ticking_together_start_a_run_once(replicas: Replicas) -> None:
    now, sent = [T0], []

    async def publish(due: TaskDue) -> None:
        sent.append(due)

    schedulers = [
        Scheduler([EVERY_MINUTE], await replicas.open(), publish, lambda: now[0], lease_ttl=timedelta(minutes=30))
        for _ in range(2)
    ]
    await schedulers[0].tick()
    now[0] += timedelta(seconds=40)
    await asyncio.gather(*(s.tick() for s in schedulers))
    assert [d.scheduled_for for d in sent] == [T0.replace(minute=1, second=0)]


def test_the_store_url_setting_is_checked_at_start(tmp_path: Path) -> None:
    assert Settings(nats_creds=tmp_path / "c").scheduler_store_url is None
    url = "postgresql://u@h/db?schema=scheduler"
    assert Settings(nats_creds=tmp_path / "c", scheduler_store_url=url).scheduler_store_url == url
    with pytest.raises(ValidationError, match="unsupported store URL scheme"):
        Settings(nats_creds=tmp_path / "c", scheduler_store_url="sqlite:///x.db")
