"""The executor store contract, on SQLite and PostgreSQL: one ledger row per action id, durable
across reopen; a started row is held by one replica (claims, leases, fencing); drains and kill
switches as before."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from warden_executor.adapters.sql_store import SqlControls, SqlDrainJournal, SqlLedger
from warden_executor.domain.controls import KillSwitch
from warden_executor.domain.model import LedgerEntry, LedgerState


def entry(action_id: str, state: LedgerState = LedgerState.STARTED, **extra) -> LedgerEntry:
    return LedgerEntry(
        action_id=action_id,
        envelope_id="env-1",
        incident_id="inc-1",
        kind="scale_service",
        target="orders",
        state=state,
        **extra,
    )


@pytest.fixture
async def store(make_store):
    s = make_store()
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def rival(make_store):
    """A second replica: its own connection and holder id, on the same database."""
    s = make_store(holder="replica-b")
    await s.open()
    yield s
    await s.close()


async def test_ledger_has_one_row_per_action_id_and_survives_reopen(store, make_store):
    ledger = SqlLedger(store)

    assert await ledger.start(entry("a1"))
    assert not await ledger.start(entry("a1"))
    await ledger.record_before("a1", {"replicas": 2, "version": "v1"})
    await store.close()

    reopened = make_store()
    await reopened.open()
    try:
        again = SqlLedger(reopened)
        row = await again.get("a1")
        assert row is not None and row.state is LedgerState.STARTED and row.before == {"replicas": 2, "version": "v1"}
        await again.finish("a1", "verified", "ok")
        done = await again.get("a1")
        assert (done.state, done.outcome, done.detail, done.envelope_id) == (
            LedgerState.DONE,
            "verified",
            "ok",
            "env-1",
        )
        assert await again.get("missing") is None
    finally:
        await reopened.close()


async def test_abandon_only_forgets_unfinished_rows(store):
    ledger = SqlLedger(store)
    await ledger.start(entry("a1"))
    await ledger.close_unstarted(entry("a2", LedgerState.DONE, outcome="rejected", detail="kill switch on"))

    await ledger.abandon("a1")
    await ledger.abandon("a2")
    await ledger.close_unstarted(entry("a2", LedgerState.DONE, outcome="skipped"))  # never overwrites

    assert await ledger.get("a1") is None
    row = await ledger.get("a2")
    assert (row.state, row.outcome, row.detail) == (LedgerState.DONE, "rejected", "kill switch on")


async def test_kill_switch_newer_change_wins(store, kit):
    controls = SqlControls(store)
    t0 = kit.START

    assert await controls.save_kill_switch(KillSwitch("global", True, t0 + timedelta(seconds=2), "alice"))
    assert not await controls.save_kill_switch(KillSwitch("global", False, t0 + timedelta(seconds=1), "bob"))
    assert await controls.save_kill_switch(KillSwitch("checkout", True, t0, "carol", "drill"))

    switches = {s.scope: s for s in await controls.kill_switches()}
    assert switches["global"].engaged and switches["global"].changed_by == "alice"
    assert switches["checkout"].reason == "drill" and switches["checkout"].changed_at == t0


async def test_announce_and_the_started_state_survive_a_reopen(store, make_store):
    ledger = SqlLedger(store)
    await ledger.start(entry("a1", envelope='{"id": "env-1"}'))
    assert await ledger.announce("a1", {"replicas": 2})
    await store.close()

    reopened = make_store()  # the same replica, restarted
    await reopened.open()
    try:
        again = SqlLedger(reopened)
        [left] = await again.unfinished()
        assert (left.action_id, left.announced, left.observed, left.envelope) == (
            "a1",
            True,
            {"replicas": 2},
            '{"id": "env-1"}',
        )
        claimed = await again.claim("a1")
        assert claimed is not None and claimed.announced
    finally:
        await reopened.close()


async def test_a_started_row_belongs_to_its_holder_while_the_lease_lives(store, rival):
    mine, theirs = SqlLedger(store), SqlLedger(rival)
    assert await mine.start(entry("a1"))

    assert await theirs.unfinished() == []
    assert await theirs.claim("a1") is None
    assert not await theirs.announce("a1", {"replicas": 2})  # fenced: it may not touch the target
    await theirs.abandon("a1")  # and may not forget the row
    row = await mine.get("a1")
    assert row is not None and row.state is LedgerState.STARTED and not row.announced

    assert [e.action_id for e in await mine.unfinished()] == ["a1"]
    assert await mine.claim("a1") is not None  # its own, e.g. after a restart under the same id
    assert await mine.announce("a1", {"replicas": 2})


async def test_a_lapsed_lease_is_claimed_by_one_replica_and_fences_the_old_holder(make_store):
    frozen = make_store(holder="replica-a", lease_s=0.0)  # its lease is over the moment it is taken
    taker = make_store(holder="replica-b")
    await frozen.open()
    await taker.open()
    try:
        old, new = SqlLedger(frozen), SqlLedger(taker)
        assert await old.start(entry("a1"))
        assert [e.action_id for e in await new.unfinished()] == ["a1"]
        claimed = await new.claim("a1")
        assert claimed is not None and claimed.action_id == "a1"
        assert await old.claim("a1") is None  # replica-b's lease is live now
        assert not await old.announce("a1", {})  # the old holder wakes up: it must not act
        assert await new.announce("a1", {})
        await new.finish("a1", "verified", "ok")
        assert await new.claim("a1") is None and await new.unfinished() == []
    finally:
        await frozen.close()
        await taker.close()


async def test_a_holder_keeps_its_lease_by_renewing(make_store):
    short = make_store(holder="replica-a", lease_s=0.0)
    rival = make_store(holder="replica-b")
    await short.open()
    await rival.open()
    try:
        ledger = SqlLedger(short)
        await ledger.start(entry("a1"))
        await ledger.start(entry("a2"))
        await SqlLedger(short).finish("a2", "verified", "ok")
        short.lease_s = 3600.0
        assert await ledger.renew_leases() == 1  # only the started row
        assert await SqlLedger(rival).claim("a1") is None
    finally:
        await short.close()
        await rival.close()


async def test_two_replicas_racing_for_one_action_get_one_start_and_one_claim(make_store):
    replicas = [make_store(holder=f"replica-{n}", lease_s=0.0 if n == 0 else 30.0) for n in range(3)]
    for s in replicas:
        await s.open()
    try:
        ledgers = [SqlLedger(s) for s in replicas]
        for n in range(10):
            started = await asyncio.gather(ledgers[1].start(entry(f"s{n}")), ledgers[2].start(entry(f"s{n}")))
            assert sorted(started) == [False, True]
            # A row whose holder vanished (lease 0): two live replicas claim it at once.
            await ledgers[0].start(entry(f"c{n}"))
            claims = await asyncio.gather(ledgers[1].claim(f"c{n}"), ledgers[2].claim(f"c{n}"))
            assert sum(c is not None for c in claims) == 1
    finally:
        for s in replicas:
            await s.close()


async def test_drains_left_open_are_each_replicas_own(store, rival):
    mine, theirs = SqlDrainJournal(store), SqlDrainJournal(rival)
    await mine.opened("d1", "doorbell")
    await theirs.opened("d2", "doorbell")
    assert await mine.left_open() == ["d1"]
    assert await theirs.left_open() == ["d2"]
    await mine.closed("d1")
    assert await mine.left_open() == []
