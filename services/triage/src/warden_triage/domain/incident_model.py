"""What the incident lifecycle stores, and the store port it stores it through."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from warden_contracts.events import AlertReceived, IncidentChanged, Severity


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class AlertStatus(StrEnum):
    FIRED = "Fired"
    RESOLVED = "Resolved"


@dataclass(frozen=True)
class Incident:
    id: str
    fingerprint: str  # the correlation key: one open incident per key
    incident_class: str
    title: str
    service: str | None
    resource_id: str
    environment: str
    resource_group: str | None
    severity: Severity
    status: IncidentStatus
    opened_at: datetime
    updated_at: datetime
    alert_count: int
    owner: str | None = None
    commander_channel: str | None = None
    services: tuple[str, ...] = ()
    root_service: str | None = None


_INCIDENT_FIELDS = frozenset(Incident.__dataclass_fields__)


def evolved(incident: Incident, **changes: Any) -> Incident:
    """`dataclasses.replace(incident, **changes)` at a quarter of its cost (it runs once per
    alert in a storm): `Incident` is a plain frozen dataclass (no `__post_init__`, no checks in
    `__init__`), so its fields copied with some changed are the value `replace` builds."""
    if not changes.keys() <= _INCIDENT_FIELDS:
        raise TypeError(f"Incident has no fields {sorted(changes.keys() - _INCIDENT_FIELDS)}")
    copy = object.__new__(Incident)
    copy.__dict__.update(incident.__dict__, **changes)
    return copy


@dataclass(frozen=True)
class AlertLink:
    alert_id: str
    incident_id: str
    status: AlertStatus
    updated_at: datetime


@dataclass(frozen=True)
class PendingAlert:
    """A firing held back until its class's `open_after` threshold is met."""

    key: str
    alert_id: str
    message_id: str
    received_at: datetime
    alert: AlertReceived


@dataclass(frozen=True)
class HeldGroup:
    """The alerts of one correlation key held back together, as the periodic sweep sees them."""

    key: str
    first: PendingAlert  # the oldest: its rule picks the threshold, its arrival starts the wait
    alerts: int


@dataclass(frozen=True)
class Processed:
    outcome: IncidentChanged | None


class IncidentTransaction(Protocol):
    async def processed(self, message_id: str) -> Processed | None: ...

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None: ...

    async def open_incident(self, fingerprint: str) -> Incident | None: ...

    async def open_incidents_in(self, environment: str, services: set[str]) -> list[Incident]:
        """Open incidents in this environment that any of these services joined."""

    async def incident(self, incident_id: str) -> Incident | None: ...

    async def save_incident(self, incident: Incident) -> None:
        """Insert or replace by id."""

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]: ...

    async def links_of_incident(self, incident_id: str, *, limit: int | None = None) -> list[AlertLink]:
        """In the order the alerts were attached."""

    async def count_firing(self, incident_id: str) -> int: ...

    async def save_link(self, link: AlertLink) -> None:
        """Insert or replace by (alert_id, incident_id)."""

    async def add_pending(self, pending: PendingAlert) -> None: ...

    async def pending(self, key: str) -> list[PendingAlert]:
        """In arrival order."""

    async def is_pending(self, alert_id: str) -> bool: ...

    async def remove_pending(self, alert_id: str) -> bool:
        """True if the alert was pending."""

    async def drop_pending(self, key: str) -> None: ...

    async def held_groups(self) -> list[HeldGroup]:
        """Every key with pending alerts, with its oldest pending alert and how many are held."""

    async def record_unmatched(
        self, message_id: str, alert_id: str, status: AlertStatus, at: datetime, reason: str
    ) -> None:
        """An alert that joined no incident (suppressed, unknown resolution, resolved while pending)."""


class IncidentStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[IncidentTransaction]:
        """Commits on normal exit, rolls back on an exception."""
