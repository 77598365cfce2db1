"""The Cosmos DB ledger through the real `azure-cosmos` SDK against an HTTPS gateway double: the
same sequence of ledger calls gives the same answers as the SQL ledger on SQLite, documents are
partitioned by incident, and concurrent changes are caught by ETags instead of lost."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient
from warden_executor.adapters.cosmos_ledger import CosmosLedger, LedgerConflict
from warden_executor.adapters.sql_store import SqlLedger, SqlStore
from warden_executor.domain.model import LedgerEntry, LedgerState


def entry(action_id: str, incident: str = "inc-1", state: LedgerState = LedgerState.STARTED) -> LedgerEntry:
    return LedgerEntry(
        action_id=action_id,
        envelope_id=f"env-{action_id}",
        incident_id=incident,
        kind="restart_service",
        target="checkout-api",
        state=state,
        envelope='{"id": "env"}',
    )


@pytest.fixture
async def container(cosmos: Any) -> AsyncIterator[ContainerProxy]:
    async with CosmosClient(cosmos.url, credential=cosmos.credential) as client:
        yield client.get_database_client("warden").get_container_client("executor")


async def scenario(ledger: Any) -> list[Any]:
    """A crash-and-recover story through every ledger call; returns what the caller would see."""
    seen: list[Any] = []
    seen.append(await ledger.start(entry("a1")))
    seen.append(await ledger.start(entry("a1")))  # a redelivery: already there
    seen.append(await ledger.start(entry("a2", incident="inc-2")))
    await ledger.close_unstarted(entry("a3", state=LedgerState.DONE))
    await ledger.announce("a1", {"replicas": 2})
    await ledger.record_before("a1", {"version": "1.4.0"})
    await ledger.finish("a1", "succeeded", "restarted")
    await ledger.abandon("a2")  # nothing done yet: forgotten
    await ledger.abandon("a1")  # finished: kept
    await ledger.finish("missing", "failed", "no such action")
    seen.append([e.action_id for e in await ledger.unfinished()])
    for action in ("a1", "a2", "a3", "missing"):
        got = await ledger.get(action)
        seen.append(None if got is None else got)
    return seen


async def test_cosmos_ledger_answers_like_the_sqlite_ledger(container: ContainerProxy, tmp_path: Path) -> None:
    store = SqlStore(tmp_path / "executor.db")
    await store.open()
    try:
        expected = await scenario(SqlLedger(store))
    finally:
        await store.close()
    assert await scenario(CosmosLedger(container)) == expected
    assert expected[:3] == [True, False, True]
    finished = expected[4]
    assert finished.state is LedgerState.DONE and finished.outcome == "succeeded"
    assert finished.announced and finished.observed == {"replicas": 2} and finished.before == {"version": "1.4.0"}


async def test_documents_are_partitioned_by_incident(container: ContainerProxy, cosmos: Any) -> None:
    ledger = CosmosLedger(container)
    await ledger.start(entry("a1", incident="inc-7"))
    await ledger.start(entry("a2", incident="inc-8"))
    assert {(pk, doc_id) for (_, pk, doc_id) in cosmos.documents} == {('"inc-7"', "a1"), ('"inc-8"', "a2")}
    # A fresh process knows no partitions yet: it finds the action across partitions, then reads by key.
    fresh = CosmosLedger(container)
    got = await fresh.get("a2")
    assert got is not None and got.incident_id == "inc-8"
    assert ("GET", "/dbs/warden/colls/executor/docs/a2/") not in cosmos.requests


async def test_a_concurrent_change_is_retried_not_overwritten(container: ContainerProxy, cosmos: Any) -> None:
    ledger = CosmosLedger(container)
    await ledger.start(entry("a1"))
    other = CosmosLedger(container)
    await other.announce("a1", {"replicas": 3})
    cosmos.conflicts_on_replace = 2  # someone else writes twice between our read and our replace
    await ledger.finish("a1", "succeeded", "ok")
    got = await ledger.get("a1")
    assert got is not None and got.state is LedgerState.DONE and got.observed == {"replicas": 3}


async def test_a_document_that_never_settles_raises_a_clear_conflict(container: ContainerProxy, cosmos: Any) -> None:
    ledger = CosmosLedger(container)
    await ledger.start(entry("a1"))
    cosmos.conflicts_on_replace = 100
    with pytest.raises(LedgerConflict, match="a1 changed 5 times"):
        await ledger.finish("a1", "failed", "x")


async def test_racing_starts_let_exactly_one_executor_act(container: ContainerProxy) -> None:
    results = await asyncio.gather(*(CosmosLedger(container).start(entry("a1")) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]


@pytest.mark.skipif(not os.environ.get("WARDEN_TEST_COSMOS_ENDPOINT"), reason="no Cosmos DB account configured")
async def test_live_account_roundtrip() -> None:
    """Opt-in: WARDEN_TEST_COSMOS_ENDPOINT names an account with container warden/executor (`/pk`)."""
    from warden_executor.adapters.cosmos_ledger import ledger_container

    live, close = ledger_container(os.environ["WARDEN_TEST_COSMOS_ENDPOINT"])
    try:
        ledger = CosmosLedger(live)
        action = f"live-{os.getpid()}"
        assert await ledger.start(entry(action, incident="inc-live"))
        await ledger.finish(action, "succeeded", "live test")
        got = await ledger.get(action)
        assert got is not None and got.state is LedgerState.DONE
    finally:
        await close()
