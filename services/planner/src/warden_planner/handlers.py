"""Thin bus handlers: envelope in -> planning service -> publish what it committed."""

from __future__ import annotations

import asyncio
from typing import Protocol

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope

from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.records import PlannerStore

INCIDENT_TOPIC = "sre.incident.changed.v1"
REPORT_TOPIC = "sre.action.reported.v1"
CONTROL_TOPIC = "sre.control.changed.v1"


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


class Outbox:
    """Publishes committed-but-unsent messages; ids are derived, so a re-send is de-duplicated."""

    def __init__(self, store: PlannerStore, bus: Publisher, counters: Counters) -> None:
        self._store = store
        self._bus = bus
        self._counters = counters
        self._lock = asyncio.Lock()

    async def flush(self) -> None:
        async with self._lock:
            for envelope in await self._store.unsent():
                await self._bus.publish(envelope)
                await self._store.mark_sent(envelope.id)
                self._counters.inc("messages_published", topic=envelope.type)


def register(bus: Bus, service: PlanningService, outbox: Outbox, counters: Counters) -> None:
    async def incident_changed(envelope: Envelope) -> None:
        await service.on_incident(envelope)
        await outbox.flush()

    async def action_reported(envelope: Envelope) -> None:
        await service.on_report(envelope)
        await outbox.flush()

    async def control_changed(envelope: Envelope) -> None:
        await service.on_control(envelope)
        counters.inc("control_recorded")

    bus.subscribe(INCIDENT_TOPIC, incident_changed)
    bus.subscribe(REPORT_TOPIC, action_reported)
    bus.subscribe(CONTROL_TOPIC, control_changed)
