"""The incident lifecycle: alerts open, update and resolve incidents, once per message.

State lives behind `IncidentStore`; each message is applied inside one store transaction that
also records the message id and the resulting change, so a redelivery neither changes state twice
nor loses the change event (the stored outcome is returned again and re-published with the same
derived id, which the broker de-duplicates).

Every alert ends in exactly one recorded place: attached to an incident, held as pending (its
class waits for more evidence), suppressed (maintenance window), ignored as a duplicate of an
attached firing, or recorded as an unmatched resolution. Nothing is dropped without a row.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState, Severity, SuppressionProposal

from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.classification import Classifier
from warden_triage.domain.correlation import AlertContext, Correlator, suppression_proposal, worth_announcing
from warden_triage.domain.incident_model import (
    AlertLink,
    AlertStatus,
    Incident,
    IncidentStatus,
    IncidentStore,
    IncidentTransaction,
    PendingAlert,
    Processed,
)
from warden_triage.domain.sources import SourceRegistry

__all__ = [
    "AlertLink",
    "AlertStatus",
    "Incident",
    "IncidentStatus",
    "IncidentStore",
    "IncidentTracker",
    "IncidentTransaction",
    "PendingAlert",
    "Processed",
    "new_incident_id",
]

log = logging.getLogger("warden.triage")
ALERT_IDS_IN_EVENT = 100


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
        correlator: Correlator | None = None,
        clock: Callable[[], datetime] = _utcnow,
        incident_ids: Callable[[], str] = new_incident_id,
        on_fate: Callable[[str], None] = lambda _fate: None,
    ) -> None:
        """`on_fate` hears, after each commit, where the alert ended: opened, attached, pending,
        suppressed, duplicate, resolved (an alert of an open incident), unmatched."""
        self._store = store
        self._correlator = correlator or Correlator(ServiceCatalog(), classifier, sources)
        self._clock = clock
        self._incident_ids = incident_ids
        self._lock = asyncio.Lock()
        self._on_fate = on_fate
        self._fate = ""

    async def apply(self, alert: AlertReceived, message_id: str) -> IncidentChanged | None:
        """The change this message caused (or caused the first time it was seen), None if nothing."""
        async with self._lock:
            self._fate = ""
            async with self._store.transaction() as tx:
                seen = await tx.processed(message_id)
                if seen is not None:
                    return seen.outcome
                now = self._clock()
                if alert.status == AlertStatus.FIRED:
                    outcome = await self._fired(tx, alert, message_id, now)
                else:
                    outcome = await self._resolved(tx, alert, message_id, now)
                await tx.mark_processed(message_id, outcome, now)
            self._on_fate(self._fate)  # after the commit: a rolled-back attempt is not counted
            return outcome

    async def _fired(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, now: datetime
    ) -> IncidentChanged | None:
        ctx = self._correlator.context(alert)
        window = self._correlator.catalog.maintenance_window(ctx.service, ctx.environment, now)
        if window is not None:
            await tx.record_unmatched(message_id, alert.alert_id, AlertStatus.FIRED, now, f"suppressed:{window.name}")
            log.info("alert %s suppressed by maintenance window %s", alert.alert_id, window.name)
            self._fate = "suppressed"
            return None
        if await self._already_firing(tx, alert.alert_id):
            log.info("duplicate firing of %s ignored", alert.alert_id)
            self._fate = "duplicate"
            return None
        incident = await tx.open_incident(ctx.key) or await self._related_incident(tx, ctx, now)
        if incident is not None:
            return await self._attach(tx, incident, alert, ctx, now)
        if ctx.threshold is not None:
            return await self._hold_or_open(tx, alert, message_id, ctx, now)
        return await self._open(tx, [alert], ctx, now)

    async def _already_firing(self, tx: IncidentTransaction, alert_id: str) -> bool:
        for link in await tx.links_of_alert(alert_id):
            if link.status == AlertStatus.FIRED:
                incident = await tx.incident(link.incident_id)
                if incident is not None and incident.status == IncidentStatus.OPEN:
                    return True
        return await tx.is_pending(alert_id)

    async def _related_incident(self, tx: IncidentTransaction, ctx: AlertContext, now: datetime) -> Incident | None:
        """An open incident on a service one dependency away, touched within the window: the
        same outage seen from another service, so no competing incident is opened."""
        related = self._correlator.related(ctx)
        if not related:
            return None
        window = self._correlator.catalog.correlation.window
        recent = [i for i in await tx.open_incidents_in(ctx.environment, related) if now - i.updated_at <= window]
        return max(recent, key=lambda i: i.updated_at) if recent else None

    async def _hold_or_open(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, ctx: AlertContext, now: datetime
    ) -> IncidentChanged | None:
        assert ctx.threshold is not None
        await tx.add_pending(PendingAlert(ctx.key, alert.alert_id, message_id, now, alert))
        pending = await tx.pending(ctx.key)
        waited = now - min(p.received_at for p in pending)
        long_enough = ctx.threshold.minutes > 0 and waited.total_seconds() >= ctx.threshold.minutes * 60
        if len(pending) < ctx.threshold.alerts and not long_enough:
            log.info("alert %s pending (%d of %d alerts)", alert.alert_id, len(pending), ctx.threshold.alerts)
            self._fate = "pending"
            return None
        await tx.drop_pending(ctx.key)
        return await self._open(tx, [p.alert for p in pending], ctx, now)

    async def _open(
        self, tx: IncidentTransaction, alerts: list[AlertReceived], ctx: AlertContext, now: datetime
    ) -> IncidentChanged:
        first = alerts[0]
        target = ctx.service or first.resource_id
        incident = Incident(
            id=self._incident_ids(),
            fingerprint=ctx.key,
            incident_class=ctx.incident_class,
            title=f"{first.rule} on {target}",
            service=ctx.service,
            resource_id=first.resource_id,
            environment=ctx.environment,
            resource_group=first.resource_group,
            severity=min((a.severity for a in alerts), key=lambda s: s.value),
            status=IncidentStatus.OPEN,
            opened_at=now,
            updated_at=now,
            alert_count=len(alerts),
            owner=ctx.entry.owner if ctx.entry else None,
            commander_channel=ctx.entry.commander_channel if ctx.entry else None,
            services=(ctx.service,) if ctx.service else (),
        )
        await tx.save_incident(incident)
        self._fate = "opened"
        for alert in alerts:
            await tx.save_link(AlertLink(alert.alert_id, incident.id, AlertStatus.FIRED, now))
        return await self._changed(tx, incident, IncidentState.OPENED)

    async def _attach(
        self, tx: IncidentTransaction, incident: Incident, alert: AlertReceived, ctx: AlertContext, now: datetime
    ) -> IncidentChanged | None:
        services = incident.services
        if ctx.service and ctx.service not in services:
            services = (*services, ctx.service)
        updated = replace(
            incident,
            alert_count=incident.alert_count + 1,
            updated_at=now,
            severity=_more_severe(incident.severity, alert.severity),
            services=services,
            root_service=self._correlator.root_of(set(services)) or incident.root_service,
        )
        await tx.save_incident(updated)
        await tx.save_link(AlertLink(alert.alert_id, incident.id, AlertStatus.FIRED, now))
        self._fate = "attached"
        material = (updated.severity, updated.services, updated.root_service) != (
            incident.severity,
            incident.services,
            incident.root_service,
        )
        if not material and not worth_announcing(updated.alert_count):
            return None
        proposal = suppression_proposal(
            updated.alert_count, updated.services, updated.environment, alert.rule, updated.opened_at, now
        )
        return await self._changed(tx, updated, IncidentState.UPDATED, proposal)

    async def _resolved(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, now: datetime
    ) -> IncidentChanged | None:
        if await tx.remove_pending(alert.alert_id):
            log.info("pending alert %s resolved before its incident opened", alert.alert_id)
            await tx.record_unmatched(message_id, alert.alert_id, AlertStatus.RESOLVED, now, "resolved-while-pending")
            self._fate = "unmatched"
            return None
        links = await tx.links_of_alert(alert.alert_id)
        if not links:
            log.warning("resolution of unknown alert %s recorded and ignored", alert.alert_id)
            await tx.record_unmatched(message_id, alert.alert_id, AlertStatus.RESOLVED, now, "unknown-alert")
            self._fate = "unmatched"
            return None
        self._fate = "resolved"
        outcome: IncidentChanged | None = None
        for link in links:
            incident = await tx.incident(link.incident_id)
            if link.status == AlertStatus.RESOLVED or incident is None or incident.status != IncidentStatus.OPEN:
                continue
            await tx.save_link(replace(link, status=AlertStatus.RESOLVED, updated_at=now))
            if await tx.count_firing(incident.id):
                await tx.save_incident(replace(incident, updated_at=now))
                continue
            incident = replace(incident, status=IncidentStatus.RESOLVED, updated_at=now)
            await tx.save_incident(incident)
            outcome = await self._changed(tx, incident, IncidentState.RESOLVED)
        return outcome

    async def _changed(
        self,
        tx: IncidentTransaction,
        incident: Incident,
        change: IncidentState,
        proposal: SuppressionProposal | None = None,
    ) -> IncidentChanged:
        links = await tx.links_of_incident(incident.id, limit=ALERT_IDS_IN_EVENT)
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
            owner=incident.owner,
            commander_channel=incident.commander_channel,
            services=list(incident.services),
            root_service=incident.root_service,
            suppression_proposal=proposal,
        )
