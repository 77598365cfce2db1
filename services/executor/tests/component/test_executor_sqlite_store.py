"""The SQLite ledger and controls: one row per action id, durable across reopen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from warden_executor.adapters.sqlite_store import SqliteControls, SqliteLedger, SqliteStore
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
async def store(tmp_path):
    s = SqliteStore(tmp_path / "state" / "executor.db")
    await s.open()
    yield s
    await s.close()


async def test_ledger_has_one_row_per_action_id_and_survives_reopen(store, tmp_path):
    ledger = SqliteLedger(store)

    assert await ledger.start(entry("a1"))
    assert not await ledger.start(entry("a1"))
    await ledger.record_before("a1", {"replicas": 2, "version": "v1"})
    await store.close()

    reopened = SqliteStore(tmp_path / "state" / "executor.db")
    await reopened.open()
    try:
        again = SqliteLedger(reopened)
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
    ledger = SqliteLedger(store)
    await ledger.start(entry("a1"))
    await ledger.close_unstarted(entry("a2", LedgerState.DONE, outcome="rejected", detail="kill switch on"))

    await ledger.abandon("a1")
    await ledger.abandon("a2")
    await ledger.close_unstarted(entry("a2", LedgerState.DONE, outcome="skipped"))  # never overwrites

    assert await ledger.get("a1") is None
    row = await ledger.get("a2")
    assert (row.state, row.outcome, row.detail) == (LedgerState.DONE, "rejected", "kill switch on")


async def test_kill_switch_newer_change_wins(store, kit):
    controls = SqliteControls(store)
    t0 = kit.START

    assert await controls.save_kill_switch(KillSwitch("global", True, t0 + timedelta(seconds=2), "alice"))
    assert not await controls.save_kill_switch(KillSwitch("global", False, t0 + timedelta(seconds=1), "bob"))
    assert await controls.save_kill_switch(KillSwitch("checkout", True, t0, "carol", "drill"))

    switches = {s.scope: s for s in await controls.kill_switches()}
    assert switches["global"].engaged and switches["global"].changed_by == "alice"
    assert switches["checkout"].reason == "drill" and switches["checkout"].changed_at == t0
