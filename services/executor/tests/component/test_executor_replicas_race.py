"""Two executor replicas (each its own store, connection and holder id) on one ledger database,
given the same approved action: whether both pull it, one gets a redelivery while the other is
still acting, or the holder dies mid-action, the target is acted on once and reported once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from warden_contracts.catalog import default_catalog
from warden_contracts.events import ReportStatus
from warden_executor.adapters.sql_store import SqlControls, SqlLedger, SqlStore
from warden_executor.domain.execution import ActionExecutor
from warden_executor.domain.model import LedgerState

ROUNDS = 5


@dataclass
class Replica:
    store: SqlStore
    executor: ActionExecutor
    ledger: SqlLedger


@pytest.fixture
async def replicas(make_store, policy, target, publisher, clock):
    made: list[Replica] = []

    async def replica(holder: str, lease_s: float = 30.0) -> Replica:
        store = make_store(holder=holder, lease_s=lease_s)
        await store.open()
        ledger = SqlLedger(store)
        executor = ActionExecutor(
            trusted=policy.trusted,
            catalog=default_catalog(),
            ledger=ledger,
            controls=SqlControls(store),
            target=target,
            publisher=publisher,
            clock=clock,
        )
        made.append(Replica(store, executor, ledger))
        return made[-1]

    yield replica
    for r in made:
        await r.store.close()


def reports(publisher, action_id: str) -> list[str]:
    return [e.data["status"] for e in publisher.of_type("sre.action.reported.v1") if e.data["action_id"] == action_id]


async def test_both_replicas_pull_the_same_action_and_one_executes_it(replicas, policy, publisher, target, kit):
    first, second = await replicas("replica-a"), await replicas("replica-b")
    for n in range(ROUNDS):
        target.services[f"svc-{n}"] = kit.healthy_view(f"svc-{n}", memory_pct=92.0)
        action = policy.action(target=f"svc-{n}")
        message = kit.approved(action)
        outcomes = await asyncio.gather(
            first.executor.handle(message, kit.grant()), second.executor.handle(message, kit.grant())
        )
        assert sorted(outcomes, key=str) == sorted([ReportStatus.VERIFIED, None], key=str)
        assert [c[1] for c in target.calls].count(f"svc-{n}") == 1
        assert reports(publisher, action.action_id) == ["started", "verified"]


async def test_a_redelivery_to_another_replica_mid_action_is_not_run(replicas, policy, publisher, target, kit):
    first, second = await replicas("replica-a"), await replicas("replica-b")
    action = policy.action()
    message = kit.approved(action)
    acting, finish_acting = asyncio.Event(), asyncio.Event()
    act = target.act

    async def slow_act(*args):
        result = await act(*args)
        acting.set()
        await finish_acting.wait()  # the first replica is inside the target call
        return result

    target.act = slow_act
    first_run = asyncio.ensure_future(first.executor.handle(message, kit.grant()))
    await acting.wait()
    # The broker gives up waiting for the first replica's ack and hands the message to the second.
    assert await second.executor.handle(message, kit.grant()) is None
    assert await second.executor.unfinished() == []
    finish_acting.set()
    assert await first_run is ReportStatus.VERIFIED
    assert [c[0] for c in target.calls] == ["restart_service"]
    assert reports(publisher, action.action_id) == ["started", "verified"]


async def test_an_action_left_by_a_dead_replica_is_finished_by_one_other_without_acting_again(
    replicas, policy, publisher, target, kit
):
    dead = await replicas("replica-a", lease_s=0.0)  # stops renewing: its lease is over at once
    survivors = [await replicas("replica-b"), await replicas("replica-c")]
    action = policy.action()
    message = kit.approved(action)
    assert await dead.ledger.start(dead.executor._entry(message, action, LedgerState.STARTED))
    assert await dead.ledger.announce(action.action_id, await target.observe("checkout"))
    await target.act("restart_service", "checkout", {}, kit.grant())  # it acted, then died
    await dead.ledger.record_before(action.action_id, {"memory_pct": 92.0})

    left = [await s.executor.unfinished() for s in survivors]
    assert [[e.id for e in found] for found in left] == [[message.id], [message.id]]
    outcomes = await asyncio.gather(*(s.executor.handle(message, kit.grant()) for s in survivors))
    assert sorted(outcomes, key=str) == sorted([ReportStatus.VERIFIED, None], key=str)
    assert [c[0] for c in target.calls] == ["restart_service"]  # only the dead replica's own act
    assert reports(publisher, action.action_id) == ["verified"]
    done = await survivors[0].ledger.get(action.action_id)
    assert done is not None and done.outcome == "verified"
