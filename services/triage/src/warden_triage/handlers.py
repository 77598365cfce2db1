"""Thin bus handlers: alert envelope in -> incident tracker -> incident change envelope out."""

from __future__ import annotations

import logging
from collections.abc import Callable

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
    return envelope_for(
        INCIDENT_TOPIC,
        change,
        source=SOURCE,
        correlationid=change.incident_id,
        causationid=cause.id,
        subject=change.incident_id,
        id=derived_id(cause.id, f"incident-{change.change.value}"),
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

    async def _handle(self, envelope: Envelope) -> None:
        alert = envelope.payload(AlertReceived)
        change = await self._tracker.apply(alert, envelope.id)
        if change is None:
            return
        await self._bus.publish(incident_envelope(envelope, change))
        self._counters.inc(f"incidents_{change.change.value}")
        log.info(
            "incident %s %s (%s)",
            change.incident_id,
            change.change.value,
            change.incident_class,
            extra={"correlationid": change.incident_id, "causationid": envelope.id},
        )
