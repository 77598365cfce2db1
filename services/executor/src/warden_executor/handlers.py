"""Thin bus handlers: envelope in, domain call, outcome to the bus's ack / retry vocabulary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from warden_bus.port import RetryLater
from warden_contracts.envelope import Envelope
from warden_contracts.events import ActionPending, ControlChanged

from warden_executor.domain.controls import ControlStore, kill_switch_from
from warden_executor.domain.doorbell import DrainCoordinator
from warden_executor.domain.model import ElevationUnavailable

log = logging.getLogger("warden.executor")
Count = Callable[[str], None]


class Handlers:
    def __init__(
        self,
        coordinator: DrainCoordinator,
        controls: ControlStore,
        count: Count,
        retry_delay: timedelta = timedelta(seconds=2),
    ) -> None:
        self._coordinator, self._controls, self._count = coordinator, controls, count
        self._retry_delay = retry_delay

    async def on_doorbell(self, env: Envelope) -> None:
        pending = env.payload(ActionPending)
        self._count("doorbells")
        try:
            result = await self._coordinator.on_doorbell(pending.action_id, env.correlationid)
        except ElevationUnavailable as err:
            self._count("elevation_failures")
            raise RetryLater(str(err), self._retry_delay) from err
        extra = {"correlationid": env.correlationid, "action_id": pending.action_id, "grant_id": result.grant_id}
        if result.already_done:
            # Redelivered after a drain took the action, with no drain owed: no grant asked for.
            self._count("doorbells_already_done")
            log.info("doorbell %s: %s, no drain owed", pending.action_id, result.detail, extra=extra)
            return
        if not result.elevated:
            self._count("doorbells_not_elevated")
            log.warning("doorbell %s: %s", pending.action_id, result.detail, extra=extra)
            return
        self._count("elevations")
        log.info("drained %d action(s) %s", result.handled, result.detail, extra=extra)
        if result.retry:
            raise RetryLater(result.retry, self._retry_delay)

    async def on_control(self, env: Envelope) -> None:
        switch = kill_switch_from(env.payload(ControlChanged), env.time)
        if switch is None:
            return
        stored = await self._controls.save_kill_switch(switch)
        log.warning(
            "kill switch %s for %s by %s%s",
            "engaged" if switch.engaged else "released",
            switch.scope,
            switch.changed_by,
            "" if stored else " (older than the stored state: ignored)",
            extra={"correlationid": env.correlationid},
        )
