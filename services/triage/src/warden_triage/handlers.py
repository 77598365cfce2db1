"""Thin bus handlers: alert envelope in -> incident tracker -> incident change envelope out; and
the held-alert sweep, which publishes the incidents that time alone opens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, derived_id, envelope_for
from warden_contracts.events import AlertReceived, IncidentChanged

from warden_triage.domain.incidents import IncidentTracker

SOURCE = "warden/triage"
INCIDENT_TOPIC = "sre.incident.changed.v1"
log = logging.getLogger("warden.triage")


def incident_envelope(cause: Envelope, change: IncidentChanged) -> Envelope:
    """One correlation id per incident; the id is derived so a redelivery republishes the same one."""
    return _envelope(cause.id, change, f"incident-{change.change.value}")


def held_release_envelope(first_held_message_id: str, change: IncidentChanged) -> Envelope:
    """Caused by the group's first held alert; derived, so a retried release is de-duplicated."""
    return _envelope(first_held_message_id, change, f"incident-{change.change.value}-after-hold")


def _envelope(cause_id: str, change: IncidentChanged, purpose: str) -> Envelope:
    return envelope_for(
        INCIDENT_TOPIC,
        change,
        source=SOURCE,
        correlationid=change.incident_id,
        causationid=cause_id,
        subject=change.incident_id,
        id=derived_id(cause_id, purpose),
    )


class AlertReceivedHandler:
    def __init__(
        self, tracker: IncidentTracker, bus: Bus, counters: Counters, on_handled: Callable[[], None] = lambda: None
    ) -> None:
        self._tracker = tracker
        self._bus = bus
        self._counters = counters
        self._on_handled = on_handled

    async def __call__(self, envelope: Envelope) -> None:
        try:
            await self._handle(envelope)
        finally:
            self._on_handled()  # progress for the webhook's back-pressure, whatever the outcome

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        """A pull batch in one store transaction, then its changes published: in order within an
        incident, concurrently across incidents. The bus acks the batch after this returns; if
        it raises, the bus handles each message alone and the stored outcomes are re-published."""
        changes = await self._tracker.apply_many([(e.payload(AlertReceived), e.id) for e in envelopes])
        by_incident: dict[str, list[tuple[Envelope, IncidentChanged]]] = {}
        for envelope, change in zip(envelopes, changes, strict=True):
            if change is not None:
                by_incident.setdefault(change.incident_id, []).append((envelope, change))
        announcing = (self._announce_all(pairs) for pairs in by_incident.values())
        results = await asyncio.gather(*announcing, return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
        for _ in envelopes:
            self._on_handled()

    async def _handle(self, envelope: Envelope) -> None:
        change = await self._tracker.apply(envelope.payload(AlertReceived), envelope.id)
        if change is not None:
            await self._announce(envelope, change)

    async def _announce_all(self, pairs: list[tuple[Envelope, IncidentChanged]]) -> None:
        for envelope, change in pairs:
            await self._announce(envelope, change)

    async def _announce(self, envelope: Envelope, change: IncidentChanged) -> None:
        await self._bus.publish(incident_envelope(envelope, change))
        self._counters.inc("incidents", change=change.change.value)
        log.info(
            "incident %s %s (%s)",
            change.incident_id,
            change.change.value,
            change.incident_class,
            extra={"correlationid": change.incident_id, "causationid": envelope.id},
        )


class HeldAlertSweep:
    """One pass: releases every held group whose wait is over, each in its own transaction, so a
    group that fails (bus or store down) stays held for the next pass without blocking the rest."""

    def __init__(self, tracker: IncidentTracker, bus: Bus, counters: Counters) -> None:
        self._tracker = tracker
        self._bus = bus
        self._counters = counters

    async def __call__(self) -> int:
        self._counters.inc("held_sweeps")  # the sweep's own liveness, next to what it released
        released = 0
        for key in await self._tracker.due_held_groups():
            try:
                change = await self._tracker.release_held(key, self._announce)
            except Exception:
                log.exception("held group %s not released; retried on the next sweep", key[:12])
                self._counters.inc("held_release_failures")
                continue
            if change is None:
                continue  # an alert released it first
            released += 1
            self._counters.inc("held_groups_released")
            self._counters.inc("incidents", change=change.change.value)
            log.info(
                "incident %s %s after its alerts were held (%s)",
                change.incident_id,
                change.change.value,
                change.incident_class,
                extra={"correlationid": change.incident_id},
            )
        return released

    async def _announce(self, change: IncidentChanged, first_held_message_id: str) -> None:
        await self._bus.publish(held_release_envelope(first_held_message_id, change))
