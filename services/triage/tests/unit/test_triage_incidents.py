"""The incident lifecycle over an in-memory store (the SQLite adapter is covered by component tests)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from warden_contracts.events import IncidentChanged, IncidentState, Severity
from warden_testkit.triage import memory_alert as alert
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.incidents import (
    AlertLink,
    AlertStatus,
    Incident,
    IncidentStatus,
    IncidentTracker,
    PendingAlert,
    Processed,
)


@dataclass
class State:
    incidents: dict[str, Incident] = field(default_factory=dict)
    links: dict[tuple[str, str], AlertLink] = field(default_factory=dict)
    processed: dict[str, IncidentChanged | None] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    pending: dict[str, PendingAlert] = field(default_factory=dict)


class MemoryTransaction:
    def __init__(self, state: State) -> None:
        self.s = state

    async def processed(self, message_id: str) -> Processed | None:
        return Processed(self.s.processed[message_id]) if message_id in self.s.processed else None

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None:
        self.s.processed[message_id] = outcome

    async def open_incident(self, fingerprint: str) -> Incident | None:
        return next(
            (i for i in self.s.incidents.values() if i.fingerprint == fingerprint and i.status == IncidentStatus.OPEN),
            None,
        )

    async def incident(self, incident_id: str) -> Incident | None:
        return self.s.incidents.get(incident_id)

    async def save_incident(self, incident: Incident) -> None:
        self.s.incidents[incident.id] = incident

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]:
        return [link for (a, _), link in self.s.links.items() if a == alert_id]

    async def links_of_incident(self, incident_id: str, *, limit: int | None = None) -> list[AlertLink]:
        return [link for (_, i), link in self.s.links.items() if i == incident_id][:limit]

    async def open_incidents_in(self, environment: str, services: set[str]) -> list[Incident]:
        return [
            i
            for i in self.s.incidents.values()
            if i.status == IncidentStatus.OPEN
            and i.environment == environment
            and (i.service in services or set(i.services) & services)
        ]

    async def count_firing(self, incident_id: str) -> int:
        return sum(1 for link in await self.links_of_incident(incident_id) if link.status == AlertStatus.FIRED)

    async def add_pending(self, pending: PendingAlert) -> None:
        self.s.pending[pending.alert_id] = pending

    async def pending(self, key: str) -> list[PendingAlert]:
        return [p for p in self.s.pending.values() if p.key == key]

    async def is_pending(self, alert_id: str) -> bool:
        return alert_id in self.s.pending

    async def remove_pending(self, alert_id: str) -> bool:
        return self.s.pending.pop(alert_id, None) is not None

    async def drop_pending(self, key: str) -> None:
        self.s.pending = {a: p for a, p in self.s.pending.items() if p.key != key}

    async def save_link(self, link: AlertLink) -> None:
        self.s.links[(link.alert_id, link.incident_id)] = link

    async def record_unmatched(
        self, message_id: str, alert_id: str, status: AlertStatus, at: datetime, reason: str
    ) -> None:
        self.s.unmatched.append(alert_id)


class MemoryStore:
    def __init__(self) -> None:
        self.state = State()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        working = copy.deepcopy(self.state)
        yield MemoryTransaction(working)
        self.state = working  # only on success: an exception leaves the old state


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def tracker(store: MemoryStore) -> IncidentTracker:
    ids = count(1)
    return IncidentTracker(
        store, load_classifier(), builtin_registry(), clock=Clock(), incident_ids=lambda: f"inc-{next(ids):012x}"
    )


async def test_lifecycle_open_update_duplicate_resolve(tracker: IncidentTracker, store: MemoryStore) -> None:
    opened = await tracker.apply(alert("a1"), "m1")
    assert opened is not None and opened.change is IncidentState.OPENED
    assert (opened.incident_id, opened.incident_class, opened.alert_count) == ("inc-000000000001", "memory_pressure", 1)
    assert opened.title == "High memory usage on checkout"
    assert (opened.environment, opened.resource_group, opened.alert_ids) == ("prod", "rg-a", ["a1"])

    assert await tracker.apply(alert("a1"), "m1-repost") is None  # same alert id, still Fired

    updated = await tracker.apply(alert("a2", severity="Sev1"), "m2")
    assert updated is not None and updated.change is IncidentState.UPDATED
    assert updated.incident_id == opened.incident_id
    assert (updated.alert_count, updated.alert_ids, updated.severity) == (2, ["a1", "a2"], Severity.SEV1)

    assert await tracker.apply(alert("a1", "Resolved"), "m3") is None  # a2 still firing
    assert store.state.incidents[opened.incident_id].status == IncidentStatus.OPEN

    resolved = await tracker.apply(alert("a2", "Resolved"), "m4")
    assert resolved is not None and resolved.change is IncidentState.RESOLVED
    assert store.state.incidents[opened.incident_id].status == IncidentStatus.RESOLVED
    assert await tracker.apply(alert("a2", "Resolved"), "m4-again") is None


async def test_redelivered_message_returns_the_first_outcome_without_changing_state(
    tracker: IncidentTracker, store: MemoryStore
) -> None:
    first = await tracker.apply(alert("a1"), "m1")
    again = await tracker.apply(alert("a1"), "m1")
    assert again == first
    assert len(store.state.incidents) == 1
    assert store.state.incidents[first.incident_id].alert_count == 1  # type: ignore[union-attr]


async def test_resolution_of_unknown_alert_is_recorded_and_ignored(
    tracker: IncidentTracker, store: MemoryStore
) -> None:
    assert await tracker.apply(alert("ghost", "Resolved"), "m1") is None
    assert store.state.unmatched == ["ghost"]
    assert "m1" in store.state.processed
    assert store.state.incidents == {}


async def test_new_firing_after_resolution_opens_a_new_incident(tracker: IncidentTracker) -> None:
    first = await tracker.apply(alert("a1"), "m1")
    await tracker.apply(alert("a1", "Resolved"), "m2")
    second = await tracker.apply(alert("a3"), "m3")
    assert first is not None and second is not None
    assert second.change is IncidentState.OPENED and second.incident_id != first.incident_id


async def test_different_service_opens_a_separate_incident(tracker: IncidentTracker) -> None:
    first = await tracker.apply(alert("a1"), "m1")
    other = await tracker.apply(
        alert("b1", resource_id="/subscriptions/s/resourceGroups/rg-a/providers/x/sites/cart", service="cart"), "m2"
    )
    assert first is not None and other is not None
    assert other.change is IncidentState.OPENED and other.incident_id != first.incident_id
    assert other.fingerprint != first.fingerprint
