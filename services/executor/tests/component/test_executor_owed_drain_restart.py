"""A drain owed (one stopped early and asked for its doorbell again) survives a restart: the new
process, on the same SQLite or PostgreSQL state, elevates for the redelivered doorbell even though
that doorbell's own action is done, drains what was left, and then pays the debt."""

from __future__ import annotations

from types import SimpleNamespace

from warden_contracts.catalog import default_catalog
from warden_executor.adapters.sql_store import SqlDrainJournal, SqlLedger
from warden_executor.domain.doorbell import DrainCoordinator, action_budget_s
from warden_executor.domain.execution import ActionExecutor
from warden_executor.domain.model import LedgerState


def process(store, *, elevation, source, target, controls, publisher, clock, policy) -> SimpleNamespace:
    """One executor process on `store`: its ledger and journal are the store's, the rest shared."""
    ledger = SqlLedger(store)
    executor = ActionExecutor(
        trusted=policy.trusted,
        catalog=default_catalog(),
        ledger=ledger,
        controls=controls,
        target=target,
        publisher=publisher,
        clock=clock,
    )
    coordinator = DrainCoordinator(
        elevation=elevation,
        source=source,
        executor=executor,
        controls=controls,
        clock=clock,
        ttl_s=120,
        action_budget_s=action_budget_s(default_catalog()),
        journal=SqlDrainJournal(store),
        ledger=ledger,
        max_actions=1,
    )
    return SimpleNamespace(ledger=ledger, journal=SqlDrainJournal(store), coordinator=coordinator)


async def test_the_owed_mark_survives_a_restart(
    make_store, elevation, source, target, controls, publisher, clock, policy, kit
):
    first, second = policy.action(), policy.action("scale_service", "orders", {"replicas": 3})
    source.queue += [kit.approved(first), kit.approved(second)]
    shared = dict(
        elevation=elevation,
        source=source,
        target=target,
        controls=controls,
        publisher=publisher,
        clock=clock,
        policy=policy,
    )

    store = make_store()
    await store.open()
    try:
        before = process(store, **shared)
        stopped = await before.coordinator.on_doorbell(first.action_id)
        assert stopped.retry is not None and "more may wait" in stopped.retry
        assert await before.journal.owed()
    finally:
        await store.close()  # the process goes; the doorbell is redelivered to the next one

    store = make_store()
    await store.open()
    try:
        after = process(store, **shared)
        done = await after.ledger.get(first.action_id)
        assert done is not None and done.state is LedgerState.DONE
        grants = len(elevation.justifications)

        result = await after.coordinator.on_doorbell(first.action_id)

        assert result.elevated and not result.already_done and result.handled == 1
        assert len(elevation.justifications) > grants
        drained = await after.ledger.get(second.action_id)
        assert drained is not None and drained.state is LedgerState.DONE

        emptied = await after.coordinator.on_doorbell(first.action_id)
        assert emptied.detail == "queue empty" and await after.journal.owed() == []
        quiet = await after.coordinator.on_doorbell(first.action_id)
        assert quiet.already_done and not quiet.elevated
    finally:
        await store.close()


async def test_owed_marks_are_shared_by_the_replicas(make_store):
    mine, theirs = make_store(), make_store(holder="replica-b")
    await mine.open()
    await theirs.open()
    try:
        await SqlDrainJournal(mine).owe("d1", "action a (doorbell)")
        await SqlDrainJournal(mine).owe("d1", "action a (doorbell)")  # idempotent
        await SqlDrainJournal(theirs).owe("d2", "action b (doorbell)")
        assert sorted(await SqlDrainJournal(theirs).owed()) == ["d1", "d2"]

        await SqlDrainJournal(theirs).paid(["d1"])

        assert await SqlDrainJournal(mine).owed() == ["d2"]
    finally:
        await mine.close()
        await theirs.close()
