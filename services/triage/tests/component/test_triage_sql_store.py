"""The incident store contract, run against SQLite and the machine's PostgreSQL alike: the
lifecycle story, pending and held alerts, link order, rollback, migrations of an old database,
the store URL setting, and replicas: two store instances (two connections or two pools) applying
one stream of alerts concurrently open exactly one incident per fingerprint and apply each
message once, whichever replica sees it first."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState, Severity
from warden_persistence import Conflict
from warden_testkit.postgres import Replicas, postgres_schema, replicas_on
from warden_testkit.triage import memory_alert as alert
from warden_triage.adapters.catalog_file import load_catalog
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.postgres_store import PostgresIncidentStore
from warden_triage.adapters.sql_store import SqlIncidentStore
from warden_triage.adapters.sqlite_store import SqliteIncidentStore
from warden_triage.app import Settings
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.correlation import Correlator
from warden_triage.domain.incident_model import AlertLink, AlertStatus, Incident, IncidentStatus, PendingAlert
from warden_triage.domain.incidents import IncidentTracker

T0 = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replicas[SqlIncidentStore]]:
    async with replicas_on(request.param, SqlIncidentStore, tmp_path / "state" / "triage.db", "triage") as stores:
        yield stores


def tracker(store: Any, catalog: ServiceCatalog | None = None, clock: Any = None) -> IncidentTracker:
    ids = count(1)
    ticks = count(1)
    classifier, sources = load_classifier(), builtin_registry()
    return IncidentTracker(
        store,
        classifier,
        sources,
        correlator=Correlator(catalog or ServiceCatalog(), classifier, sources),
        clock=clock or (lambda: T0 + timedelta(seconds=next(ticks))),
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


async def test_the_incident_lifecycle(replicas: Replicas) -> None:
    store = await replicas.open()
    t = tracker(store)
    got = [await t.apply(a, m) for a, m in STORY]
    changes = [(o.change.value, o.incident_id, o.alert_count) if o else None for o in got]
    assert changes[0] == ("opened", "inc-000000000001", 1) and changes[1] == changes[0]
    assert changes[2] is None  # still firing: a duplicate
    assert changes[3] == ("updated", "inc-000000000001", 2)
    assert changes[4] == ("opened", "inc-000000000002", 1)
    assert changes[5] is None and changes[6] is None  # one alert still firing; unknown resolution
    assert changes[7] == ("resolved", "inc-000000000001", 2) and changes[8] is None
    assert changes[-1] == ("opened", "inc-000000000003", 1)
    assert got[3] is not None and got[3].severity is Severity.SEV1
    async with store.transaction() as tx:
        resolved = await tx.incident("inc-000000000001")
        assert resolved is not None and resolved.status is IncidentStatus.RESOLVED
        assert await tx.open_incident(resolved.fingerprint) is not None  # inc 3 took the key
        assert [link.alert_id for link in await tx.links_of_incident("inc-000000000001")] == ["a1", "a2"]


async def test_the_sqlite_and_postgresql_stores_tell_the_same_story(tmp_path: Path) -> None:
    sqlite = SqliteIncidentStore(tmp_path / "triage.db")
    await sqlite.open()
    try:
        t = tracker(sqlite)
        expected = [await t.apply(a, m) for a, m in STORY]
    finally:
        await sqlite.close()
    async with postgres_schema("triage") as url:
        postgres = PostgresIncidentStore(url)
        await postgres.open()
        try:
            t = tracker(postgres)
            got = [await t.apply(a, m) for a, m in STORY]
        finally:
            await postgres.close()
    assert got == expected


def _rows(path: Path) -> dict[str, list[Any]]:
    db = sqlite3.connect(path)
    try:
        tables = ("incidents", "alerts", "processed", "pending_alerts", "unmatched_alerts")
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    finally:
        db.close()


async def test_a_batch_read_ahead_tells_the_story_one_message_at_a_time_tells(tmp_path: Path) -> None:
    """SQLite reads a batch's processed rows, alert links and held alerts up front; within the
    batch its own writes (a message applied twice, an alert attached then resolved, a repost,
    an incident resolved and its key's next one opened) must read as they would one transaction
    per message: same outcomes, same rows."""
    stores = {}
    for name in ("one-by-one", "batch"):
        stores[name] = SqliteIncidentStore(tmp_path / name / "triage.db")
        await stores[name].open()
    try:
        one = tracker(stores["one-by-one"])
        expected = [await one.apply(a, m) for a, m in STORY]
        batch = tracker(stores["batch"])
        got = [await batch.apply(*STORY[0]), *await batch.apply_many(STORY[1:])]
    finally:
        for store in stores.values():
            await store.close()
    assert got == expected
    assert _rows(tmp_path / "batch" / "triage.db") == _rows(tmp_path / "one-by-one" / "triage.db")


async def test_a_failed_transaction_writes_nothing(replicas: Replicas) -> None:
    store = await replicas.open()
    with pytest.raises(RuntimeError, match="handler crashed"):
        async with store.transaction() as tx:
            await tx.record_unmatched("m1", "a1", AlertStatus.RESOLVED, T0, "test")
            await tx.mark_processed("m1", None, T0)
            raise RuntimeError("handler crashed")
    async with store.transaction() as tx:
        assert await tx.processed("m1") is None


async def test_processed_messages_keep_their_outcome(replicas: Replicas) -> None:
    store = await replicas.open()
    change = await tracker(store).apply(alert("a1"), "m1")
    assert change is not None
    async with store.transaction() as tx:
        await tx.mark_processed("m2", None, T0)
    async with store.transaction() as tx:
        first, second = await tx.processed("m1"), await tx.processed("m2")
        assert first is not None and first.outcome == change
        assert second is not None and second.outcome is None
        assert await tx.processed("m3") is None


def _incident(incident_id: str, fingerprint: str, **changes: Any) -> Incident:
    base: dict[str, Any] = {
        "id": incident_id,
        "fingerprint": fingerprint,
        "incident_class": "memory_pressure",
        "title": "High memory",
        "service": "checkout",
        "resource_id": "/r/checkout",
        "environment": "prod",
        "resource_group": None,
        "severity": Severity.SEV3,
        "status": IncidentStatus.OPEN,
        "opened_at": T0,
        "updated_at": T0,
        "alert_count": 1,
    }
    return Incident(**(base | changes))


async def test_incidents_links_and_joined_services(replicas: Replicas) -> None:
    store = await replicas.open()
    one = _incident("i1", "fp1", services=("checkout", "cache"), owner="team", root_service="cache")
    two = _incident("i2", "fp2", service="payments", environment="prod")
    async with store.transaction() as tx:
        await tx.save_incident(one)
        await tx.save_incident(two)
        await tx.save_incident(_incident("i3", "fp3", service="cache", environment="staging"))
        for alert_id in ("x", "y", "z"):
            await tx.save_link(AlertLink(alert_id, "i1", AlertStatus.FIRED, T0))
    async with store.transaction() as tx:
        assert await tx.open_incident("fp1") == one
        assert await tx.incident("i2") == two and await tx.incident("nope") is None
        assert [i.id for i in await tx.open_incidents_in("prod", {"cache"})] == ["i1"]  # joined, not its own
        assert sorted(i.id for i in await tx.open_incidents_in("prod", {"payments", "cache"})) == ["i1", "i2"]
        assert await tx.open_incidents_in("prod", set()) == []
        # Re-saving a link updates it in place: the attachment order holds.
        await tx.save_link(AlertLink("x", "i1", AlertStatus.RESOLVED, T0 + timedelta(seconds=1)))
        assert [(x.alert_id, x.status) for x in await tx.links_of_incident("i1")] == [
            ("x", AlertStatus.RESOLVED),
            ("y", AlertStatus.FIRED),
            ("z", AlertStatus.FIRED),
        ]
        assert [x.alert_id for x in await tx.links_of_incident("i1", limit=2)] == ["x", "y"]
        assert [x.incident_id for x in await tx.links_of_alert("y")] == ["i1"]
        assert await tx.count_firing("i1") == 2
        await tx.save_incident(one.__class__(**{**one.__dict__, "status": IncidentStatus.RESOLVED}))
        assert await tx.open_incident("fp1") is None


async def test_links_and_processed_ids_kept_for_the_commit_read_back_in_their_transaction(
    replicas: Replicas,
) -> None:
    """Links and processed ids are written many rows per statement (links before a query reads
    them, processed ids at the commit); meanwhile the transaction reads what it saved, and the
    order of attachment is the order of saving, after every link already stored."""
    store = await replicas.open()
    change = await tracker(store).apply(alert("a0"), "m0")
    assert change is not None
    async with store.transaction() as tx:
        await tx.mark_processed("m1", change, T0)
        await tx.mark_processed("m2", None, T0)
        first, second = await tx.processed("m1"), await tx.processed("m2")
        assert first is not None and first.outcome == change
        assert second is not None and second.outcome is None
        incident = change.incident_id
        for alert_id in ("b", "c"):
            await tx.save_link(AlertLink(alert_id, incident, AlertStatus.FIRED, T0))
        await tx.save_link(AlertLink("a0", incident, AlertStatus.RESOLVED, T0))  # stored: keeps its place
        await tx.save_link(AlertLink("b", incident, AlertStatus.RESOLVED, T0))  # kept: keeps its place
        assert [(x.alert_id, x.status) for x in await tx.links_of_incident(incident)] == [
            ("a0", AlertStatus.RESOLVED),
            ("b", AlertStatus.RESOLVED),
            ("c", AlertStatus.FIRED),
        ]
        await tx.save_link(AlertLink("d", incident, AlertStatus.FIRED, T0))
        assert await tx.count_firing(incident) == 2
        assert [x.incident_id for x in await tx.links_of_alert("d")] == [incident]
    async with store.transaction() as tx:
        assert [x.alert_id for x in await tx.links_of_incident(incident)] == ["a0", "b", "c", "d"]
        stored = await tx.processed("m1")
        assert stored is not None and stored.outcome == change


async def test_a_message_marked_twice_in_one_transaction_is_refused_and_nothing_is_written(
    replicas: Replicas,
) -> None:
    store = await replicas.open()
    with pytest.raises((sqlite3.IntegrityError, Conflict)):
        async with store.transaction() as tx:
            await tx.mark_processed("m1", None, T0)
            await tx.mark_processed("m1", None, T0)
    async with store.transaction() as tx:
        assert await tx.processed("m1") is None


async def test_a_second_open_incident_for_one_fingerprint_is_refused(replicas: Replicas) -> None:
    store = await replicas.open()
    async with store.transaction() as tx:
        await tx.save_incident(_incident("i1", "fp1"))
    with pytest.raises((sqlite3.IntegrityError, Conflict)):
        async with store.transaction() as tx:
            await tx.save_incident(_incident("i2", "fp1"))


async def test_pending_alerts(replicas: Replicas) -> None:
    store = await replicas.open()
    async with store.transaction() as tx:
        for i, alert_id in enumerate(("p1", "p2", "p3")):
            await tx.add_pending(PendingAlert("key-1", alert_id, f"m{i}", T0 + timedelta(seconds=i), alert(alert_id)))
        await tx.add_pending(PendingAlert("key-1", "p0", "m9", T0, alert("p0")))  # same time as p1, later
    async with store.transaction() as tx:
        assert [p.alert_id for p in await tx.pending("key-1")] == ["p1", "p0", "p2", "p3"]
        assert await tx.is_pending("p2") and not await tx.is_pending("nope")
        assert await tx.remove_pending("p2") and not await tx.remove_pending("p2")
        assert [p.alert_id for p in await tx.pending("key-1")] == ["p1", "p0", "p3"]
        assert (await tx.pending("key-1"))[0].alert == alert("p1")
    async with store.transaction() as tx:
        await tx.drop_pending("key-1")
        assert await tx.pending("key-1") == []


async def test_held_groups(replicas: Replicas) -> None:
    store = await replicas.open()
    async with store.transaction() as tx:
        for i, (key, alert_id) in enumerate((("key-b", "b1"), ("key-a", "a1"), ("key-b", "b2"), ("key-a", "a2"))):
            await tx.add_pending(PendingAlert(key, alert_id, f"m{i}", T0 + timedelta(seconds=i), alert(alert_id)))
    async with store.transaction() as tx:
        groups = sorted(await tx.held_groups(), key=lambda g: g.key)
        assert [(g.key, g.first.alert_id, g.first.message_id, g.first.received_at, g.alerts) for g in groups] == [
            ("key-a", "a1", "m1", T0 + timedelta(seconds=1), 2),
            ("key-b", "b1", "m0", T0, 2),
        ]
        await tx.drop_pending("key-a")
        assert [(g.key, g.alerts) for g in await tx.held_groups()] == [("key-b", 2)]


async def test_unmatched_alerts_are_recorded_once_per_message(replicas: Replicas) -> None:
    store = await replicas.open()
    async with store.transaction() as tx:
        await tx.record_unmatched("m1", "a1", AlertStatus.RESOLVED, T0, "unknown-alert")
        await tx.record_unmatched("m1", "a1", AlertStatus.RESOLVED, T0, "unknown-alert")
    second = await replicas.open()  # and the state is there for another instance
    t = tracker(second)
    assert await t.apply(alert("a1", "Resolved"), "m2") is None


async def test_a_database_made_before_numbered_migrations_opens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "triage.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE incidents (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, class TEXT NOT NULL,
          title TEXT NOT NULL, service TEXT, resource_id TEXT NOT NULL, environment TEXT NOT NULL,
          resource_group TEXT, severity TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL,
          updated_at TEXT NOT NULL, alert_count INTEGER NOT NULL);
        CREATE TABLE alerts (alert_id TEXT NOT NULL, incident_id TEXT NOT NULL, status TEXT NOT NULL,
          attached_seq INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (alert_id, incident_id));
        CREATE TABLE unmatched_alerts (message_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL,
          status TEXT NOT NULL, received_at TEXT NOT NULL);
        CREATE TABLE processed (message_id TEXT PRIMARY KEY, processed_at TEXT NOT NULL, outcome TEXT);
        """
    )
    old.execute(
        "INSERT INTO incidents VALUES ('i1', 'fp1', 'memory_pressure', 't', 'checkout', '/r', 'prod', NULL,"
        " 'Sev3', 'open', ?, ?, 1)",
        (T0.isoformat(), T0.isoformat()),
    )
    old.commit()
    old.close()
    store = SqliteIncidentStore(path)
    await store.open()
    try:
        async with store.transaction() as tx:
            incident = await tx.open_incident("fp1")
            assert incident is not None and (incident.services, incident.owner) == ((), None)
            await tx.record_unmatched("m1", "a1", AlertStatus.RESOLVED, T0, "suppressed:x")
            await tx.add_pending(PendingAlert("k", "p1", "m2", T0, alert("p1")))  # a table the old one lacked
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,)]
        assert db.execute("SELECT reason FROM unmatched_alerts").fetchall() == [("suppressed:x",)]


def test_the_store_url_setting_chooses_the_backend(tmp_path: Path) -> None:
    settings = Settings(webhook_token="t", triage_store_url="postgresql://u@h/db?schema=triage")  # type: ignore[arg-type]
    assert settings.triage_store_url == "postgresql://u@h/db?schema=triage"
    assert Settings(webhook_token="t").triage_store_url is None  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unsupported store URL scheme"):
        Settings(webhook_token="t", triage_store_url="mysql://h/db")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported store URL scheme"):
        PostgresIncidentStore("sqlite:///x.db")


# --- replicas ---------------------------------------------------------------------------------

FINGERPRINTS = 6
ALERTS_EACH = 5


def storm() -> list[tuple[AlertReceived, str]]:
    """Alerts of six services interleaved, every message delivered twice (a redelivery)."""
    stream = [
        (alert(f"a{f}-{i}", service=f"svc{f}", resource_id=f"/r/svc{f}"), f"m{f}-{i}")
        for i in range(ALERTS_EACH)
        for f in range(FINGERPRINTS)
    ]
    return stream + stream[::3]


async def _apply_committed(
    t: IncidentTracker, batch: Sequence[tuple[AlertReceived, str]], lost: list[str]
) -> list[Any]:
    """What the bus does: a batch in one transaction; if it lost a race, each message alone,
    again until it commits (a redelivery). `lost` hears every race lost."""
    try:
        return await t.apply_many(batch)
    except Conflict as err:
        lost.append(str(err))
    outcomes = []
    for a, m in batch:
        for _ in range(50):
            try:
                outcomes.append(await t.apply(a, m))
                break
            except Conflict as err:
                lost.append(str(err))
                await asyncio.sleep(0)
        else:
            raise AssertionError(f"message {m} never committed")
    return outcomes


async def replica(
    store: SqlIncidentStore,
    stream: list[tuple[AlertReceived, str]],
    batch: int,
    catalog: ServiceCatalog | None = None,
    lost: list[str] | None = None,
) -> dict[str, Any]:
    classifier, sources = load_classifier(), builtin_registry()
    t = IncidentTracker(
        store, classifier, sources, correlator=Correlator(catalog or ServiceCatalog(), classifier, sources)
    )
    seen: dict[str, Any] = {}
    for start in range(0, len(stream), batch):
        chunk = stream[start : start + batch]
        outcomes = await _apply_committed(t, chunk, [] if lost is None else lost)
        for (_, message_id), outcome in zip(chunk, outcomes, strict=True):
            seen.setdefault(message_id, outcome)
    return seen


async def _facts(store: SqlIncidentStore) -> dict[str, Any]:
    assert store._db is not None
    async with store._db.transaction() as s:
        return {
            "incidents": await s.all(
                "SELECT fingerprint, COUNT(*), SUM(alert_count) FROM incidents GROUP BY fingerprint"
            ),
            "links": await s.all("SELECT alert_id, COUNT(*) FROM alerts GROUP BY alert_id HAVING COUNT(*) > 1"),
            "alerts": (await s.one("SELECT COUNT(*) FROM alerts"))[0],  # type: ignore[index]
            "processed": (await s.one("SELECT COUNT(*) FROM processed"))[0],  # type: ignore[index]
        }


async def test_two_replicas_applying_one_stream_open_one_incident_per_fingerprint(replicas: Replicas) -> None:
    first, second = await replicas.open(), await replicas.open()
    stream = storm()
    # Each replica sees every message, in opposite orders and different batch sizes: every
    # message is raced for, and every fingerprint's first alert differs between the two.
    lost: list[str] = []
    a, b = await asyncio.gather(replica(first, stream, 4, lost=lost), replica(second, stream[::-1], 3, lost=lost))
    # Batches take their message and key locks in one sorted order: they wait, never deadlock.
    assert lost == []
    facts = await _facts(first)
    assert len(facts["incidents"]) == FINGERPRINTS
    assert all(n == 1 and alerts == ALERTS_EACH for _, n, alerts in facts["incidents"]), facts["incidents"]
    assert facts["links"] == [] and facts["alerts"] == FINGERPRINTS * ALERTS_EACH
    assert facts["processed"] == FINGERPRINTS * ALERTS_EACH  # each message applied once
    assert a == b  # whoever applied a message, the other got the same stored outcome
    opened = [o for o in a.values() if o is not None and o.change is IncidentState.OPENED]
    assert len(opened) == FINGERPRINTS


async def test_replicas_correlate_related_services_into_one_incident(replicas: Replicas) -> None:
    first, second = await replicas.open(), await replicas.open()
    shipped = load_catalog()

    def on(service: str, alert_id: str, rule: str) -> tuple[AlertReceived, str]:
        entry = next(s for s in shipped.services if s.name == service)
        resource = entry.resource_ids[0] if entry.resource_ids else f"/x/{service}"
        return (
            AlertReceived(
                source_kind="azure_monitor",
                alert_id=alert_id,
                rule=rule,
                status="Fired",
                resource_id=resource,
                service=service,
                environment=entry.environment,
                fired_at=datetime.now(UTC),
            ),
            f"msg-{alert_id}",
        )

    # checkout-api depends on cache-redis: one replica sees one, the other the other, at once.
    a, b = await asyncio.gather(
        replica(first, [on("checkout-api", "c1", "High HTTP 5xx rate")], 1, shipped),
        replica(second, [on("cache-redis", "r1", "High memory usage")], 1, shipped),
    )
    outcomes = [*a.values(), *b.values()]
    assert all(o is not None for o in outcomes)
    assert len({o.incident_id for o in outcomes}) == 1  # as one replica would have grouped them
    assert sorted(o.change.value for o in outcomes) == ["opened", "updated"]


async def test_replicas_sweeping_one_due_group_release_it_once(replicas: Replicas) -> None:
    catalog = ServiceCatalog.from_document(
        {"correlation": {"open_after": [{"incident_class": "memory_pressure", "alerts": 5, "minutes": 10}]}}
    )
    now = [T0]
    trackers = [tracker(await replicas.open(), catalog, clock=lambda: now[0]) for _ in range(2)]
    assert await trackers[0].apply(alert("a1"), "m1") is None  # held: one alert of five
    assert await trackers[1].apply(alert("a2"), "m2") is None  # held beside it, by the other replica
    now[0] += timedelta(minutes=10)
    [key] = await trackers[1].due_held_groups()
    announced: list[tuple[str, str, str]] = []

    async def announce(change: IncidentChanged, cause: str) -> None:
        announced.append((change.change.value, change.incident_id, cause))

    released = await asyncio.gather(*(t.release_held(key, announce) for t in trackers))
    [change] = [r for r in released if r is not None]
    assert change.change is IncidentState.OPENED and change.alert_count == 2
    assert announced == [("opened", change.incident_id, "m1")]
    assert await trackers[0].due_held_groups() == []
