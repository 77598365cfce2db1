"""Use cases that keep the gate's live state current: executor reports and operator controls."""

from __future__ import annotations

import logging

from warden_bus.port import PoisonMessage
from warden_contracts.envelope import Envelope
from warden_contracts.events import ActionReported, ControlChanged, ReportStatus

from warden_policy.domain.model import InvalidControl, parse_control
from warden_policy.ports import Changes, Clock, StateStore
from warden_policy.relay import process_once

log = logging.getLogger("warden.policy")

TERMINAL = frozenset(
    {
        ReportStatus.VERIFIED,
        ReportStatus.SUCCEEDED,
        ReportStatus.FAILED,
        ReportStatus.ROLLED_BACK,
        ReportStatus.REJECTED,
        ReportStatus.SKIPPED,
    }
)


class Operations:
    def __init__(self, *, store: StateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def action_reported(self, env: Envelope) -> list[Envelope]:
        report = env.payload(ActionReported)
        if report.status not in TERMINAL:
            return []

        async def release() -> Changes:
            return Changes(release=[(report.target, report.action_id)])

        return await process_once(self._store, self._clock, env.id, release)

    async def control_changed(self, env: Envelope) -> list[Envelope]:
        change = env.payload(ControlChanged)
        try:
            setting = parse_control(change.kind, change.value, change.scope, change.changed_by)
        except InvalidControl as err:
            raise PoisonMessage(str(err)) from None
        settings = [setting]

        async def store() -> Changes:
            return Changes(controls=settings)

        log.warning(
            "control %s=%s (%s) by %s",
            setting.kind,
            setting.value,
            setting.scope,
            setting.changed_by,
            extra={"correlationid": env.correlationid},
        )
        return await process_once(self._store, self._clock, env.id, store)
