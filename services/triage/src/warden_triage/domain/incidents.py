"""The incident lifecycle: alerts open, update and resolve incidents, once per message.

State lives behind `IncidentStore`; each message is applied inside one store transaction that
also records the message id and the resulting change, so a redelivery neither changes state twice
nor loses the change event (the stored outcome is returned again and re-published with the same
derived id, which the broker de-duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState, Severity

from warden_triage.domain.classification import Classifier
from warden_triage.domain.sources import SourceRegistry

log = logging.getLogger("warden.triage")


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class AlertStatus(StrEnum):
    FIRED = "Fired"
    RESOLVED = "Resolved"


@dataclass(frozen=True)
class Incident:
    id: str
    fingerprint: str
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


@dataclass(frozen=True)
class AlertLink:
    alert_id: str
    incident_id: str
    status: AlertStatus
    updated_at: datetime


@dataclass(frozen=True)
class Processed:
    outcome: IncidentChanged | None


class IncidentTransaction(Protocol):
    async def processed(self, message_id: str) -> Processed | None: ...

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None: ...

    async def open_incident(self, fingerprint: str) -> Incident | None: ...

    async def incident(self, incident_id: str) -> Incident | None: ...

    async def save_incident(self, incident: Incident) -> None:
        """Insert or replace by id."""

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]: ...

    async def links_of_incident(self, incident_id: str) -> list[AlertLink]:
        """In the order the alerts were attached."""

    async def save_link(self, link: AlertLink) -> None:
        """Insert or replace by (alert_id, incident_id)."""

    async def record_unmatched(self, message_id: str, alert_id: str, status: AlertStatus, at: datetime) -> None: ...


class IncidentStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[IncidentTransaction]:
        """Commits on normal exit, rolls back on an exception."""


def new_incident_id() -> str:
    return f"inc-{secrets.token_hex(6)}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _more_severe(a: Severity, b: Severity) -> Severity:
    return min(a, b, key=lambda s: s.value)  # "Sev0" is the most severe


class IncidentTracker:
    """Applies alerts to incidents, one message at a time (an asyncio.Lock serialises them)."""

    def __init__(
        self,
        store: IncidentStore,
        classifier: Classifier,
        sources: SourceRegistry,
        *,
        clock: Callable[[], datetime] = _utcnow,
        incident_ids: Callable[[], str] = new_incident_id,
    ) -> None:
        self._store = store
        self._classifier = classifier
        self._sources = sources
        self._clock = clock
        self._incident_ids = incident_ids
        self._lock = asyncio.Lock()

    async def apply(self, alert: AlertReceived, message_id: str) -> IncidentChanged | None:
        """The change this message caused (or caused the first time it was seen), None if nothing."""
        async with self._lock, self._store.transaction() as tx:
            seen = await tx.processed(message_id)
            if seen is not None:
                return seen.outcome
            now = self._clock()
            if alert.status == AlertStatus.FIRED:
                outcome = await self._fired(tx, alert, now)
            else:
                outcome = await self._resolved(tx, alert, message_id, now)
            await tx.mark_processed(message_id, outcome, now)
            return outcome

    async def _fired(self, tx: IncidentTransaction, alert: AlertReceived, now: datetime) -> IncidentChanged | None:
        fingerprint = self._sources.fingerprint(alert)
        incident = await tx.open_incident(fingerprint)
        if incident is None:
            incident = self._new_incident(alert, fingerprint, now)
            change = IncidentState.OPENED
        else:
            attached = [link for link in await tx.links_of_incident(incident.id) if link.alert_id == alert.alert_id]
            if attached and attached[0].status == AlertStatus.FIRED:
                log.info("duplicate firing of %s ignored", alert.alert_id, extra={"correlationid": incident.id})
                return None
            incident = replace(
                incident,
                alert_count=incident.alert_count + 1,
                updated_at=now,
                severity=_more_severe(incident.severity, alert.severity),
            )
            change = IncidentState.UPDATED
        await tx.save_incident(incident)
        await tx.save_link(AlertLink(alert.alert_id, incident.id, AlertStatus.FIRED, now))
        return await self._changed(tx, incident, change)

    async def _resolved(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, now: datetime
    ) -> IncidentChanged | None:
        links = await tx.links_of_alert(alert.alert_id)
        if not links:
            log.warning("resolution of unknown alert %s recorded and ignored", alert.alert_id)
            await tx.record_unmatched(message_id, alert.alert_id, AlertStatus.RESOLVED, now)
            return None
        outcome: IncidentChanged | None = None
        for link in links:
            incident = await tx.incident(link.incident_id)
            if link.status == AlertStatus.RESOLVED or incident is None or incident.status != IncidentStatus.OPEN:
                continue
            await tx.save_link(replace(link, status=AlertStatus.RESOLVED, updated_at=now))
            remaining = [x for x in await tx.links_of_incident(incident.id) if x.status == AlertStatus.FIRED]
            if remaining:
                await tx.save_incident(replace(incident, updated_at=now))
                continue
            incident = replace(incident, status=IncidentStatus.RESOLVED, updated_at=now)
            await tx.save_incident(incident)
            outcome = await self._changed(tx, incident, IncidentState.RESOLVED)
        return outcome

    def _new_incident(self, alert: AlertReceived, fingerprint: str, now: datetime) -> Incident:
        incident_class = self._classifier.classify(alert)
        target = alert.service or alert.resource_id
        return Incident(
            id=self._incident_ids(),
            fingerprint=fingerprint,
            incident_class=incident_class.value,
            title=f"{alert.rule} on {target}",
            service=alert.service,
            resource_id=alert.resource_id,
            environment=alert.environment,
            resource_group=alert.resource_group,
            severity=alert.severity,
            status=IncidentStatus.OPEN,
            opened_at=now,
            updated_at=now,
            alert_count=1,
        )

    async def _changed(self, tx: IncidentTransaction, incident: Incident, change: IncidentState) -> IncidentChanged:
        links = await tx.links_of_incident(incident.id)
        return IncidentChanged(
            incident_id=incident.id,
            change=change,
            incident_class=incident.incident_class,
            title=incident.title,
            service=incident.service,
            resource_id=incident.resource_id,
            environment=incident.environment,
            resource_group=incident.resource_group,
            severity=incident.severity,
            fingerprint=incident.fingerprint,
            alert_count=incident.alert_count,
            alert_ids=[link.alert_id for link in links],
            opened_at=incident.opened_at,
        )
