"""Thin bus handlers: envelope in -> planning service -> publish what it committed."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope

from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.records import PlannerStore

INCIDENT_TOPIC = "sre.incident.changed.v1"
REPORT_TOPIC = "sre.action.reported.v1"
CONTROL_TOPIC = "sre.control.changed.v1"

log = logging.getLogger("warden.planner")


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


class Outbox:
    """Publishes committed-but-unsent messages; ids are derived, so a re-send is de-duplicated.

    Replicas share the outbox: each flush claims its rows for `lease` first, so a row goes out
    from one replica, not from every replica that saw it unsent (the broker's duplicate window is
    the fallback, not the mechanism). A publish that fails, or a flush cancelled by a stop, gives
    its rows back at once; a replica that dies holding a claim leaves them to the others after
    the lease."""

    # Far longer than publishing a batch takes; the bound on a dead claimer's rows waiting.
    LEASE = timedelta(seconds=30)
    BATCH = 100

    def __init__(
        self,
        store: PlannerStore,
        bus: Publisher,
        counters: Counters,
        *,
        claimer: str | None = None,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._bus = bus
        self._counters = counters
        # One per process: a restarted replica is a new claimer, its old claims lapse.
        self._claimer = claimer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease = lease
        self._clock = clock
        self._lock = asyncio.Lock()

    async def flush(self) -> None:
        """Publishes what this replica could claim."""
        async with self._lock:
            while True:
                batch = await self._store.claim_unsent(self._claimer, self._clock(), self._lease, self.BATCH)
                try:
                    for envelope in batch:
                        await self._bus.publish(envelope)
                        await self._store.mark_sent(envelope.id)
                        self._counters.inc("messages_published", topic=envelope.type)
                except BaseException:
                    # A failed publish, or this replica stopping: the others may take the rows now.
                    await self._give_back()
                    raise
                if len(batch) < self.BATCH:
                    return

    async def _give_back(self) -> None:
        try:
            # Shielded: a stopping replica's cancellation must not cancel the release itself.
            await asyncio.shield(self._store.release(self._claimer))
        except Exception as err:  # the store is gone too: the claims lapse after the lease instead
            log.warning("outbox claims of %s left to lapse: %s", self._claimer, err)


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
