"""The incident lifecycle: alerts open, update and resolve incidents, once per message.

State lives behind `IncidentStore`; each message is applied inside one store transaction that
also records the message id and the resulting change, so a redelivery neither changes state twice
nor loses the change event (the stored outcome is returned again and re-published with the same
derived id, which the broker de-duplicates).

Every alert ends in exactly one recorded place: attached to an incident, held as pending (its
class waits for more evidence), suppressed (maintenance window), ignored as a duplicate of an
attached firing, or recorded as an unmatched resolution. Nothing is dropped without a row.

Held alerts leave the pending state when their group has enough evidence: another alert arrives
and completes it, a periodic sweep finds their wait is over (`due_held_groups`, `release_held`),
or an alert of their group joins an open incident, which then takes the held ones along.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState

from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.classification import Classifier
from warden_triage.domain.correlation import AlertContext, Correlator, ready_to_open
from warden_triage.domain.incident_book import IncidentBook, held_incident_id, new_incident_id
from warden_triage.domain.incident_model import (
    AlertLink,
    AlertStatus,
    HeldGroup,
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
    "Announce",
    "HeldGroup",
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
# Publishes the change of a released held group before its transaction commits; the str is the
# message id of the group's first held alert, the cause the event derives its id from.
Announce = Callable[[IncidentChanged, str], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentTracker:
    """Applies alerts to incidents, one message (or one batch) at a time: an asyncio.Lock
    serialises the store transactions."""

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
        self._book = IncidentBook(self._correlator, incident_ids)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._on_fate = on_fate
        self._fate = ""

    async def apply(self, alert: AlertReceived, message_id: str) -> IncidentChanged | None:
        """The change this message caused (or caused the first time it was seen), None if nothing."""
        return (await self.apply_many([(alert, message_id)]))[0]

    async def apply_many(self, alerts: Sequence[tuple[AlertReceived, str]]) -> list[IncidentChanged | None]:
        """`apply` for each (alert, message id) in order, all in one store transaction when the
        store commits batches (one COMMIT, one fsync), else one transaction each. All or
        nothing: if one alert fails, none of the batch is committed."""
        if not getattr(self._store, "commits_batches", False):
            return [await self._apply_alone(alert, message_id) for alert, message_id in alerts]
        async with self._lock:
            fates: list[str] = []
            # A firing alert's context, computed once for the batch: its key is read ahead too.
            contexts = [self._correlator.context(a) if a.status == AlertStatus.FIRED else None for a, _ in alerts]
            async with self._store.transaction() as tx:
                await self._lock_in_order(tx, alerts, contexts)
                await self._read_ahead(tx, alerts, contexts)
                outcomes = [
                    await self._apply_in(tx, alert, message_id, fates, ctx)
                    for (alert, message_id), ctx in zip(alerts, contexts, strict=True)
                ]
            for fate in fates:
                self._on_fate(fate)  # after the commit: a rolled-back attempt is not counted
            return outcomes

    async def _lock_in_order(
        self,
        tx: IncidentTransaction,
        alerts: Sequence[tuple[AlertReceived, str]],
        contexts: Sequence[AlertContext | None],
    ) -> None:
        # A store shared by replicas (`orders_locks`) locks what a message reads before deciding.
        # Taking those of the whole batch first, in one global order, keeps two replicas'
        # batches from deadlocking on each other's message ids and correlation keys.
        lock_in_order = getattr(tx, "lock_in_order", None)
        if lock_in_order is not None and len(alerts) > 1 and getattr(self._store, "orders_locks", False):
            keys = [
                (ctx or self._correlator.context(alert)).key for (alert, _), ctx in zip(alerts, contexts, strict=True)
            ]
            await lock_in_order([message_id for _, message_id in alerts], keys)

    async def _read_ahead(
        self,
        tx: IncidentTransaction,
        alerts: Sequence[tuple[AlertReceived, str]],
        contexts: Sequence[AlertContext | None],
    ) -> None:
        # A store that can (`read_ahead`) reads what the batch's alerts will ask of it in a few
        # queries instead of a few per alert (or per correlation key).
        read_ahead = getattr(tx, "read_ahead", None)
        if read_ahead is not None and len(alerts) > 1:
            await read_ahead(
                [message_id for _, message_id in alerts],
                [alert.alert_id for alert, _ in alerts],
                [ctx.key for ctx in contexts if ctx is not None],
            )

    async def _apply_alone(self, alert: AlertReceived, message_id: str) -> IncidentChanged | None:
        async with self._lock:
            fates: list[str] = []
            async with self._store.transaction() as tx:
                outcome = await self._apply_in(tx, alert, message_id, fates)
            for fate in fates:
                self._on_fate(fate)
            return outcome

    async def _apply_in(
        self,
        tx: IncidentTransaction,
        alert: AlertReceived,
        message_id: str,
        fates: list[str],
        ctx: AlertContext | None = None,
    ) -> IncidentChanged | None:
        seen = await tx.processed(message_id)
        if seen is not None:
            return seen.outcome
        self._fate = ""
        now = self._clock()
        if alert.status == AlertStatus.FIRED:
            outcome = await self._fired(tx, alert, message_id, now, ctx or self._correlator.context(alert))
        else:
            outcome = await self._resolved(tx, alert, message_id, now)
        await tx.mark_processed(message_id, outcome, now)
        fates.append(self._fate)
        return outcome

    async def _fired(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, now: datetime, ctx: AlertContext
    ) -> IncidentChanged | None:
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
        incident = await tx.open_incident(ctx.key) or await self._book.related_incident(tx, ctx, now)
        if incident is not None:
            # Alerts of this group still held join with it: none waits beside an incident it belongs to.
            held = [p.alert for p in await tx.pending(ctx.key)]
            if held:
                await tx.drop_pending(ctx.key)
            self._fate = "attached"
            return await self._book.attach(tx, incident, [*held, alert], ctx, now)
        if ctx.threshold is not None:
            return await self._hold_or_open(tx, alert, message_id, ctx, now)
        self._fate = "opened"
        return await self._book.open(tx, [alert], ctx, now)

    async def _already_firing(self, tx: IncidentTransaction, alert_id: str) -> bool:
        for link in await tx.links_of_alert(alert_id):
            if link.status == AlertStatus.FIRED:
                incident = await tx.incident(link.incident_id)
                if incident is not None and incident.status == IncidentStatus.OPEN:
                    return True
        return await tx.is_pending(alert_id)

    async def _hold_or_open(
        self, tx: IncidentTransaction, alert: AlertReceived, message_id: str, ctx: AlertContext, now: datetime
    ) -> IncidentChanged | None:
        assert ctx.threshold is not None
        await tx.add_pending(PendingAlert(ctx.key, alert.alert_id, message_id, now, alert))
        pending = await tx.pending(ctx.key)
        if not ready_to_open(ctx.threshold, len(pending), pending[0].received_at, now):
            log.info("alert %s pending (%d of %d alerts)", alert.alert_id, len(pending), ctx.threshold.alerts)
            self._fate = "pending"
            return None
        await tx.drop_pending(ctx.key)
        self._fate = "opened"
        incident_id = held_incident_id(ctx.key, pending[0].message_id)
        return await self._book.open(tx, [p.alert for p in pending], ctx, now, incident_id)

    async def due_held_groups(self) -> list[str]:
        """Keys of the held groups whose wait is over at the tracker's clock, longest waiting first."""
        async with self._lock:  # one store transaction at a time, the alerts' and the sweep's alike
            now = self._clock()
            async with self._store.transaction() as tx:
                groups = await tx.held_groups()
        due = [g for g in groups if self._ready(g.first, g.alerts, now)]
        return [g.key for g in sorted(due, key=lambda g: g.first.received_at)]

    def _ready(self, first: PendingAlert, alerts: int, now: datetime) -> bool:
        # The oldest alert's rule picks the threshold: its wait is the one that may be over.
        return ready_to_open(self._correlator.context(first.alert).threshold, alerts, first.received_at, now)

    async def release_held(self, key: str, announce: Announce) -> IncidentChanged | None:
        """Opens the incident of a held group whose wait is over (or attaches the group to the
        open incident it now belongs to), as the alert completing the group would. Decided again
        on the state inside the transaction: if an alert released the group first, nothing is
        left to do. `announce` runs before the commit, so a failure of either leaves the group
        held for the next sweep, and a crash between them re-announces the same ids."""
        async with self._lock, self._store.transaction() as tx:
            pending = await tx.pending(key)
            now = self._clock()
            if not pending or not self._ready(pending[0], len(pending), now):
                return None
            first = pending[0]
            ctx = self._correlator.context(first.alert)
            alerts = [p.alert for p in pending]
            await tx.drop_pending(key)
            incident = await tx.open_incident(ctx.key) or await self._book.related_incident(tx, ctx, now)
            change = (
                await self._book.attach(tx, incident, alerts, ctx, now)
                if incident is not None
                else await self._book.open(tx, alerts, ctx, now, held_incident_id(key, first.message_id))
            )
            if change is not None:
                await announce(change, first.message_id)
        log.info("held group %s released after its wait: %d alerts", key[:12], len(alerts))
        return change

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
            outcome = await self._book.changed(tx, incident, IncidentState.RESOLVED)
        return outcome
