"""The Cosmos DB incident store through the real `azure-cosmos` SDK against an HTTPS gateway
double: the incident lifecycle gives the same outcomes as on SQLite, one alert's changes commit
as one transactional batch in the incident's partition, a failed transaction writes nothing, and
a concurrent writer is stopped by ETags instead of being overwritten."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosBatchOperationError
from warden_testkit.triage import memory_alert as alert
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.cosmos_store import CosmosIncidentStore
from warden_triage.adapters.sqlite_store import SqliteIncidentStore
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.correlation import Correlator
from warden_triage.domain.incident_model import AlertStatus, PendingAlert
from warden_triage.domain.incidents import IncidentTracker


def tracker(store: Any) -> IncidentTracker:
    ids = count(1)
    start = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
    ticks = count(1)
    return IncidentTracker(
        store,
        load_classifier(),
        builtin_registry(),
        clock=lambda: start + timedelta(seconds=next(ticks)),
        incident_ids=lambda: f"inc-{next(ids):012x}",
    )


STORY = [
    (alert("a1"), "m1"),
    (alert("a1"), "m1"),  # redelivered message: the first outcome again
    (alert("a1"), "m1-repost"),  # same alert, still firing
    (alert("a2", severity="Sev1"), "m2"),
    (alert("b1", rule="Disk full", service="payments", resource_id="/r/payments"), "m3"),
    (alert("a1", "Resolved"), "m4"),  # a2 still firing
    (alert("zz", "Resolved"), "m5"),  # never seen: recorded as unmatched
    (alert("a2", "Resolved"), "m6"),
    (alert("a2", "Resolved"), "m6-again"),
    (alert("a3"), "m7"),  # the key is free again: a new incident
]


async def run_story(store: Any) -> list[Any]:
    t = tracker(store)
    return [await t.apply(a, m) for a, m in STORY]


@pytest.fixture
async def container(cosmos: Any) -> AsyncIterator[ContainerProxy]:
    async with CosmosClient(cosmos.url, credential=cosmos.credential) as client:
        yield client.get_database_client("warden").get_container_client("triage")


async def test_the_incident_lifecycle_matches_the_sqlite_store(container: ContainerProxy, tmp_path: Path) -> None:
    sqlite = SqliteIncidentStore(tmp_path / "triage.db")
    await sqlite.open()
    try:
        expected = await run_story(sqlite)
    finally:
        await sqlite.close()
    got = await run_story(CosmosIncidentStore(container))
    assert got == expected
    changes = [(o.change.value, o.incident_id, o.alert_count) if o else None for o in got]
    assert changes[0] == ("opened", "inc-000000000001", 1) and changes[1] == changes[0]
    assert ("resolved", "inc-000000000001", 2) in changes and changes[-1] == ("opened", "inc-000000000003", 1)


async def test_one_alert_commits_as_one_batch_in_its_incident_partition(container: ContainerProxy, cosmos: Any) -> None:
    store = CosmosIncidentStore(container)
    opened = await tracker(store).apply(alert("a1"), "m1")
    assert opened is not None
    [(pk, operations, committed)] = cosmos.batches
    assert committed and pk == f'"{opened.fingerprint}"'
    assert sorted(operations) == ["Create", "Create", "Create"]  # incident, link, processed marker
    assert {p for (_, p, _) in cosmos.documents} == {f'"{opened.fingerprint}"'}


async def test_a_failed_transaction_writes_nothing(container: ContainerProxy, cosmos: Any) -> None:
    store = CosmosIncidentStore(container)
    with pytest.raises(RuntimeError, match="handler crashed"):
        async with store.transaction() as tx:
            await tx.record_unmatched("m1", "a1", AlertStatus.RESOLVED, datetime.now(UTC), "test")
            await tx.mark_processed("m1", None, datetime.now(UTC))
            raise RuntimeError("handler crashed")
    assert cosmos.documents == {} and cosmos.batches == []


async def test_a_concurrent_writer_is_stopped_by_the_etag(container: ContainerProxy) -> None:
    store = CosmosIncidentStore(container)
    first = await tracker(store).apply(alert("a1"), "m1")
    assert first is not None
    with pytest.raises(CosmosBatchOperationError):  # raised by the commit, on leaving the block
        async with store.transaction() as slow:
            incident = await slow.incident(first.incident_id)
            assert incident is not None
            # Another replica attaches an alert to the same incident and commits first.
            await tracker(store).apply(alert("a2"), "m2")
            await slow.save_incident(incident)
            await slow.mark_processed("m-slow", None, datetime.now(UTC))
    async with store.transaction() as check:
        after = await check.incident(first.incident_id)
    assert after is not None and after.alert_count == 2  # the other replica's update survived


async def test_pending_alerts_behave_like_sqlite(container: ContainerProxy, tmp_path: Path) -> None:
    async def story(store: Any) -> list[Any]:
        now = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
        seen: list[Any] = []
        async with store.transaction() as tx:
            for i, alert_id in enumerate(("p1", "p2", "p3")):
                await tx.add_pending(
                    PendingAlert("key-1", alert_id, f"m{i}", now + timedelta(seconds=i), alert(alert_id))
                )
        async with store.transaction() as tx:
            seen.append([p.alert_id for p in await tx.pending("key-1")])
            seen.append(await tx.is_pending("p2"))
            seen.append(await tx.remove_pending("p2"))
            seen.append(await tx.remove_pending("p2"))
            seen.append([p.alert_id for p in await tx.pending("key-1")])
        async with store.transaction() as tx:
            await tx.drop_pending("key-1")
            seen.append(await tx.pending("key-1"))
        return seen

    sqlite = SqliteIncidentStore(tmp_path / "triage.db")
    await sqlite.open()
    try:
        expected = await story(sqlite)
    finally:
        await sqlite.close()
    assert (
        await story(CosmosIncidentStore(container))
        == expected
        == [["p1", "p2", "p3"], True, True, False, ["p1", "p3"], []]
    )


async def test_held_groups_behave_like_sqlite(container: ContainerProxy, tmp_path: Path) -> None:
    async def story(store: Any) -> list[Any]:
        now = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
        async with store.transaction() as tx:
            for i, (key, alert_id) in enumerate((("key-b", "b1"), ("key-a", "a1"), ("key-b", "b2"), ("key-a", "a2"))):
                await tx.add_pending(PendingAlert(key, alert_id, f"m{i}", now + timedelta(seconds=i), alert(alert_id)))
        seen: list[Any] = []
        async with store.transaction() as tx:
            groups = sorted(await tx.held_groups(), key=lambda g: g.key)
            seen.append([(g.key, g.first.alert_id, g.first.message_id, g.first.received_at, g.alerts) for g in groups])
            await tx.drop_pending("key-a")
            seen.append([(g.key, g.alerts) for g in await tx.held_groups()])  # this transaction's own drop seen
        async with store.transaction() as tx:
            await tx.drop_pending("key-b")
            seen.append(await tx.held_groups())
        return seen

    sqlite = SqliteIncidentStore(tmp_path / "triage.db")
    await sqlite.open()
    try:
        expected = await story(sqlite)
    finally:
        await sqlite.close()
    t0 = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
    assert (
        await story(CosmosIncidentStore(container))
        == expected
        == [
            [("key-a", "a1", "m1", t0 + timedelta(seconds=1), 2), ("key-b", "b1", "m0", t0, 2)],
            [("key-b", 2)],
            [],
        ]
    )


async def test_a_held_group_is_released_in_one_batch_of_its_partition(container: ContainerProxy, cosmos: Any) -> None:
    store = CosmosIncidentStore(container)
    catalog = ServiceCatalog.from_document(
        {"correlation": {"open_after": [{"incident_class": "memory_pressure", "alerts": 5, "minutes": 10}]}}
    )
    now = [datetime(2026, 11, 15, 10, 0, tzinfo=UTC)]
    classifier, sources = load_classifier(), builtin_registry()
    held = IncidentTracker(
        store, classifier, sources, correlator=Correlator(catalog, classifier, sources), clock=lambda: now[0]
    )
    assert await held.apply(alert("a1"), "m1") is None
    now[0] += timedelta(minutes=10)
    [key] = await held.due_held_groups()
    cosmos.batches.clear()
    announced: list[Any] = []

    async def announce(change: Any, cause: str) -> None:
        announced.append((change.change.value, change.alert_ids, cause))

    opened = await held.release_held(key, announce)
    assert opened is not None and announced == [("opened", ["a1"], "m1")]
    [(pk, operations, committed)] = cosmos.batches
    assert committed and pk == f'"{key}"'
    assert sorted(operations) == ["Create", "Create", "Delete"]  # incident, link; the pending alert gone
    assert await held.due_held_groups() == [] and await held.release_held(key, announce) is None


@pytest.mark.skipif(not os.environ.get("WARDEN_TEST_COSMOS_ENDPOINT"), reason="no Cosmos DB account configured")
async def test_live_account_lifecycle() -> None:
    """Opt-in: WARDEN_TEST_COSMOS_ENDPOINT names an account with container warden/triage (`/pk`)."""
    from azure.identity.aio import DefaultAzureCredential

    async with (
        DefaultAzureCredential() as credential,
        CosmosClient(os.environ["WARDEN_TEST_COSMOS_ENDPOINT"], credential) as client,
    ):
        live = client.get_database_client("warden").get_container_client("triage")
        suffix = os.urandom(4).hex()
        opened = await tracker(CosmosIncidentStore(live)).apply(
            alert(f"live-{suffix}", service=f"live-{suffix}"), f"m-{suffix}"
        )
        assert opened is not None


async def test_from_endpoint_owns_and_closes_its_client() -> None:
    with pytest.raises(ValueError, match="WARDEN_COSMOS_ENDPOINT"):
        CosmosIncidentStore.from_endpoint(None)
    store = CosmosIncidentStore.from_endpoint("https://warden.documents.azure.com:443/", "client-id")
    assert store._container.container_link == "dbs/warden/colls/triage"
    transport = store._container.client_connection.pipeline_client._pipeline._transport
    await store.open()
    await transport.open()  # the HTTP session the first request would open
    assert transport.session is not None
    await store.close()
    assert transport.session is None  # the store closed the client it owns
