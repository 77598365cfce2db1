"""Correlation over the real SQLite store: dependency grouping and root service, the window,
open-after thresholds, maintenance windows, and the catalog's own validation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState
from warden_testkit.postgres import postgres_schema
from warden_triage.adapters.catalog_file import load_catalog
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.sql_store import SqlIncidentStore
from warden_triage.adapters.sqlite_store import SqliteIncidentStore
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.catalog import CatalogError, OpenAfter, ServiceCatalog
from warden_triage.domain.correlation import Correlator, ready_to_open
from warden_triage.domain.incident_book import held_incident_id
from warden_triage.domain.incidents import IncidentTracker

T0 = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
SHIPPED = load_catalog()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def alert(alert_id: str, service: str, rule: str, status: str = "Fired", **changes: Any) -> AlertReceived:
    entry = next(s for s in SHIPPED.services if s.name == service)
    base: dict[str, Any] = {
        "source_kind": "azure_monitor",
        "alert_id": alert_id,
        "rule": rule,
        "status": status,
        "resource_id": entry.resource_ids[0] if entry.resource_ids else f"/x/{service}",
        "service": service,
        "environment": entry.environment,
        "fired_at": T0,
    }
    return AlertReceived(**(base | changes))


def catalog_with(**extra: Any) -> ServiceCatalog:
    return ServiceCatalog.from_document(SHIPPED.model_dump(mode="json") | extra)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteIncidentStore]:
    """The same SQL store on SQLite and on PostgreSQL (a schema of its own, dropped afterwards)."""
    if request.param == "sqlite":
        s = SqliteIncidentStore(tmp_path / "triage.db")
        await s.open()
        yield s
        await s.close()
        return
    async with postgres_schema("triage") as url:
        s = SqlIncidentStore(url)  # type: ignore[assignment]
        await s.open()
        yield s
        await s.close()


def tracker_for(store: SqliteIncidentStore, clock: Clock, catalog: ServiceCatalog = SHIPPED) -> IncidentTracker:
    classifier, sources = load_classifier(), builtin_registry()
    return IncidentTracker(store, classifier, sources, correlator=Correlator(catalog, classifier, sources), clock=clock)


async def test_dependent_services_alerting_together_share_one_incident_with_a_root(
    store: SqliteIncidentStore,
) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock)
    opened = await tracker.apply(alert("a1", "checkout-api", "High HTTP 5xx rate"), "m1")
    assert opened is not None and opened.change is IncidentState.OPENED
    assert (opened.owner, opened.commander_channel) == ("team-shop", "#inc-shop-dev")
    clock.now += timedelta(minutes=2)
    joined = await tracker.apply(alert("a2", "cache-redis", "High memory usage"), "m2")
    assert joined is not None and joined.change is IncidentState.UPDATED
    assert joined.incident_id == opened.incident_id
    assert joined.services == ["checkout-api", "cache-redis"]
    assert joined.root_service == "cache-redis"  # checkout-api depends on it
    clock.now += timedelta(minutes=1)
    third = await tracker.apply(alert("a3", "orders-worker", "Queue backlog"), "m3")
    assert third is not None and third.incident_id == opened.incident_id
    assert third.root_service == "cache-redis"  # both alerting dependents depend on it
    assert third.alert_count == 3


async def test_outside_the_window_or_across_environments_incidents_stay_apart(
    store: SqliteIncidentStore,
) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock)
    first = await tracker.apply(alert("a1", "checkout-api", "High HTTP 5xx rate"), "m1")
    clock.now += timedelta(minutes=45)  # the shipped window is 30 minutes
    late = await tracker.apply(alert("a2", "cache-redis", "High memory usage"), "m2")
    other_env = await tracker.apply(alert("a3", "web-frontend", "High HTTP 5xx rate"), "m3")  # staging
    assert first is not None and late is not None and other_env is not None
    assert len({first.incident_id, late.incident_id, other_env.incident_id}) == 3
    assert other_env.environment == "staging"


async def test_same_class_on_one_service_groups_across_resources_and_rules(store: SqliteIncidentStore) -> None:
    tracker = tracker_for(store, Clock())
    first = await tracker.apply(alert("a1", "payments-api", "High HTTP 5xx rate"), "m1")
    second = await tracker.apply(
        alert("a2", "payments-api", "Anomalous failed requests", resource_id="/other/instance"), "m2"
    )
    memory = await tracker.apply(alert("a3", "payments-api", "High memory usage"), "m3")
    assert first is not None and second is not None and memory is not None
    assert second.incident_id == first.incident_id and second.alert_count == 2
    assert memory.change is IncidentState.OPENED  # another class is another problem


async def test_open_after_holds_alerts_until_enough_evidence(store: SqliteIncidentStore) -> None:
    clock = Clock()
    catalog = catalog_with(
        correlation={"window_minutes": 30, "open_after": [{"incident_class": "disk_pressure", "alerts": 3}]}
    )
    tracker = tracker_for(store, clock, catalog)
    assert await tracker.apply(alert("d1", "cache-redis", "Disk pressure"), "m1") is None
    assert await tracker.apply(alert("d1", "cache-redis", "Disk pressure"), "m1-again") is None  # duplicate
    assert await tracker.apply(alert("d2", "cache-redis", "Disk pressure"), "m2") is None
    opened = await tracker.apply(alert("d3", "cache-redis", "Disk pressure"), "m3")
    assert opened is not None and opened.change is IncidentState.OPENED
    assert (opened.alert_count, opened.alert_ids) == (3, ["d1", "d2", "d3"])


async def test_open_after_minutes_and_resolution_while_pending(store: SqliteIncidentStore) -> None:
    clock = Clock()
    catalog = catalog_with(correlation={"open_after": [{"rule": "(?i)certificate", "alerts": 10, "minutes": 15}]})
    tracker = tracker_for(store, clock, catalog)
    assert await tracker.apply(alert("c1", "payments-api", "Certificate expiring"), "m1") is None
    assert await tracker.apply(alert("c1", "payments-api", "Certificate expiring", "Resolved"), "m2") is None
    assert await tracker.apply(alert("c2", "payments-api", "Certificate expiring"), "m3") is None
    clock.now += timedelta(minutes=16)
    opened = await tracker.apply(alert("c3", "payments-api", "Certificate expiring"), "m4")
    assert opened is not None and opened.alert_ids == ["c2", "c3"]  # c1 resolved before it mattered


async def test_maintenance_window_suppresses_firing_but_never_resolution(store: SqliteIncidentStore) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock)
    opened = await tracker.apply(alert("h1", "orders-worker", "Health check failing"), "m1")
    assert opened is not None
    window = {
        "name": "orders upgrade",
        "services": ["orders-worker"],
        "starts_at": (T0 + timedelta(minutes=5)).isoformat(),
        "ends_at": (T0 + timedelta(hours=2)).isoformat(),
        "reason": "planned upgrade",
    }
    tracker = tracker_for(store, clock, catalog_with(maintenance=[window]))
    clock.now += timedelta(minutes=10)
    assert await tracker.apply(alert("h2", "orders-worker", "Health check failing"), "m2") is None
    resolved = await tracker.apply(alert("h1", "orders-worker", "Health check failing", "Resolved"), "m3")
    assert resolved is not None and resolved.change is IncidentState.RESOLVED
    assert resolved.alert_count == 1  # the suppressed firing joined nothing, it was recorded instead
    clock.now += timedelta(hours=3)
    after = await tracker.apply(alert("h3", "orders-worker", "Health check failing"), "m4")
    assert after is not None and after.change is IncidentState.OPENED


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {
                "services": [
                    {
                        "name": "a",
                        "environment": "dev",
                        "owner": "o",
                        "commander_channel": "#c",
                        "dependencies": ["ghost"],
                    }
                ]
            },
            "ghost",
        ),
        (
            {
                "maintenance": [
                    {
                        "name": "w",
                        "environment": "prod",
                        "starts_at": "2026-11-15T00:00:00Z",
                        "ends_at": "2026-11-17T00:00:00Z",
                        "reason": "r",
                    }
                ]
            },
            "approval_id",
        ),
        (
            {
                "maintenance": [
                    {"name": "w", "starts_at": "2026-11-15T00:00:00Z", "ends_at": "2026-11-15T01:00:00Z", "reason": "r"}
                ]
            },
            "never everything",
        ),
        (
            {
                "maintenance": [
                    {
                        "name": "w",
                        "environment": "prod",
                        "starts_at": "2026-11-15T00:00:00Z",
                        "ends_at": "2026-12-15T00:00:00Z",
                        "reason": "r",
                        "approval_id": "ap-1",
                    }
                ]
            },
            "14 days",
        ),
        ({"correlation": {"open_after": [{"alerts": 2}]}}, "incident_class or rule"),
    ],
)
def test_catalog_refuses_what_would_hide_or_lose_alerts(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        ServiceCatalog.from_document(extra)


def test_catalog_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text("services: [{name: x}]")
    with pytest.raises(CatalogError, match=str(bad)):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")


async def test_duplicate_pages_get_a_bounded_suppression_proposal(store: SqliteIncidentStore) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock)
    changes = []
    for n in range(1, 21):
        clock.now += timedelta(seconds=30)
        changes.append(await tracker.apply(alert(f"p{n}", "payments-api", "High HTTP 5xx rate"), f"m{n}"))
    announced = [c for c in changes if c is not None]
    assert [c.alert_count for c in announced] == [*range(1, 11), 16]  # 11..15 and 17..20 recorded silently
    proposals = [c.suppression_proposal for c in announced if c.suppression_proposal is not None]
    assert len(proposals) == 1
    [proposal] = proposals
    assert (proposal.services, proposal.environment, proposal.rules) == (
        ["payments-api"],
        "prod",
        ["High HTTP 5xx rate"],
    )
    assert proposal.ends_at - proposal.starts_at == timedelta(hours=1) and proposal.requires_approval


HOLD_CERTIFICATES = {"open_after": [{"rule": "(?i)certificate", "alerts": 3, "minutes": 15}]}


class Announced:
    """What `release_held` would publish, with the message id of the cause."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[IncidentChanged, str]] = []
        self.fail = fail

    async def __call__(self, change: IncidentChanged, cause: str) -> None:
        if self.fail:
            raise ConnectionError("bus unavailable")
        self.events.append((change, cause))


@pytest.mark.parametrize(
    ("threshold", "alerts", "waited", "ready"),
    [
        (None, 1, timedelta(0), True),  # nothing holds it any more (the catalog changed)
        (OpenAfter(rule="x", alerts=3, minutes=15), 2, timedelta(minutes=14, seconds=59), False),
        (OpenAfter(rule="x", alerts=3, minutes=15), 2, timedelta(minutes=15), True),
        (OpenAfter(rule="x", alerts=3, minutes=15), 3, timedelta(0), True),
        (OpenAfter(rule="x", alerts=3), 2, timedelta(days=30), False),  # no minutes: only evidence opens it
    ],
)
def test_ready_to_open(threshold: OpenAfter | None, alerts: int, waited: timedelta, ready: bool) -> None:
    assert ready_to_open(threshold, alerts, T0, T0 + waited) is ready


async def test_the_sweep_finds_held_groups_due_by_the_injected_clock(store: SqliteIncidentStore) -> None:
    clock = Clock()
    catalog = catalog_with(
        correlation=HOLD_CERTIFICATES
        | {"open_after": [*HOLD_CERTIFICATES["open_after"], {"incident_class": "disk_pressure", "alerts": 3}]}
    )
    tracker = tracker_for(store, clock, catalog)
    assert await tracker.apply(alert("c1", "payments-api", "Certificate expiring"), "m1") is None
    clock.now += timedelta(minutes=5)
    assert await tracker.apply(alert("c2", "payments-api", "Certificate expiring"), "m2") is None
    assert await tracker.apply(alert("d1", "cache-redis", "Disk pressure"), "m3") is None  # waits for evidence only
    clock.now = T0 + timedelta(minutes=14, seconds=59)
    assert await tracker.due_held_groups() == []
    clock.now = T0 + timedelta(minutes=15)  # the first certificate alert's wait, not the second's
    [due] = await tracker.due_held_groups()
    clock.now += timedelta(days=2)
    assert await tracker.due_held_groups() == [due]  # the disk group never becomes due by time

    announced = Announced()
    opened = await tracker.release_held(due, announced)
    assert opened is not None and opened.change is IncidentState.OPENED
    assert opened.alert_ids == ["c1", "c2"] and announced.events == [(opened, "m1")]
    assert opened.incident_id == held_incident_id(due, "m1")
    assert await tracker.release_held(due, announced) is None  # nothing held any more
    assert await tracker.due_held_groups() == [] and len(announced.events) == 1
    joined = await tracker.apply(alert("c3", "payments-api", "Certificate expiring"), "m4")
    assert joined is not None and joined.incident_id == opened.incident_id and joined.alert_count == 3


async def test_an_alert_releasing_the_group_first_leaves_the_sweep_nothing(store: SqliteIncidentStore) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock, catalog_with(correlation=HOLD_CERTIFICATES))
    assert await tracker.apply(alert("c1", "payments-api", "Certificate expiring"), "m1") is None
    clock.now += timedelta(minutes=20)
    [due] = await tracker.due_held_groups()
    by_alert = await tracker.apply(alert("c2", "payments-api", "Certificate expiring"), "m2")
    assert by_alert is not None and by_alert.change is IncidentState.OPENED
    announced = Announced()
    assert await tracker.release_held(due, announced) is None and announced.events == []
    # Whoever opens a held group, it gets the same id: a racing release could only repeat it.
    assert by_alert.incident_id == held_incident_id(due, "m1")


async def test_a_release_that_cannot_be_announced_stays_held(store: SqliteIncidentStore) -> None:
    clock = Clock()
    tracker = tracker_for(store, clock, catalog_with(correlation=HOLD_CERTIFICATES))
    assert await tracker.apply(alert("c1", "payments-api", "Certificate expiring"), "m1") is None
    clock.now += timedelta(minutes=20)
    [due] = await tracker.due_held_groups()
    with pytest.raises(ConnectionError):
        await tracker.release_held(due, Announced(fail=True))
    assert await tracker.due_held_groups() == [due]  # rolled back: still held
    announced = Announced()
    opened = await tracker.release_held(due, announced)
    assert opened is not None and opened.incident_id == held_incident_id(due, "m1")


async def test_held_alerts_follow_a_later_alert_of_their_group_into_a_related_incident(
    store: SqliteIncidentStore,
) -> None:
    clock = Clock()
    catalog = catalog_with(correlation={"open_after": [{"incident_class": "disk_pressure", "alerts": 3}]})
    tracker = tracker_for(store, clock, catalog)
    assert await tracker.apply(alert("d1", "cache-redis", "Disk pressure"), "m1") is None
    opened = await tracker.apply(alert("e1", "checkout-api", "High HTTP 5xx rate"), "m2")  # depends on cache-redis
    assert opened is not None
    joined = await tracker.apply(alert("d2", "cache-redis", "Disk pressure"), "m3")
    assert joined is not None and joined.incident_id == opened.incident_id
    assert joined.alert_ids == ["e1", "d1", "d2"] and joined.alert_count == 3
    assert joined.root_service == "cache-redis"
    async with store.transaction() as tx:
        assert await tx.held_groups() == []
    resolved = await tracker.apply(alert("d1", "cache-redis", "Disk pressure", "Resolved"), "m4")
    assert resolved is None  # d1 is an alert of the incident now, two others still fire


async def test_a_due_group_joins_a_related_incident_opened_while_it_waited(store: SqliteIncidentStore) -> None:
    clock = Clock()
    catalog = catalog_with(correlation={"open_after": [{"incident_class": "disk_pressure", "alerts": 3, "minutes": 5}]})
    tracker = tracker_for(store, clock, catalog)
    assert await tracker.apply(alert("d1", "cache-redis", "Disk pressure"), "m1") is None
    clock.now += timedelta(minutes=1)
    opened = await tracker.apply(alert("e1", "checkout-api", "High HTTP 5xx rate"), "m2")
    assert opened is not None
    clock.now += timedelta(minutes=5)
    [due] = await tracker.due_held_groups()
    announced = Announced()
    joined = await tracker.release_held(due, announced)
    assert joined is not None and joined.change is IncidentState.UPDATED
    assert joined.incident_id == opened.incident_id and joined.alert_ids == ["e1", "d1"]
    assert announced.events == [(joined, "m1")]
