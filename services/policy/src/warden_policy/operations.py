"""Use cases that keep the gate's live state current: executor reports and operator controls."""

from __future__ import annotations

import logging

from warden_bus.port import PoisonMessage
from warden_contracts.envelope import Envelope
from warden_contracts.events import ActionReported, ControlChanged, ControlKind, ReportStatus

from warden_policy.domain.autonomy_bar import PromotionRefused, check_run_mode_change, current_run_mode
from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.model import InvalidControl, RunMode, parse_control
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
# The covering action did not fix it: every incident it covered goes to the humans like its own.
UNCOVERED = frozenset({ReportStatus.FAILED, ReportStatus.ROLLED_BACK, ReportStatus.REJECTED, ReportStatus.SKIPPED})


class Operations:
    def __init__(self, *, store: StateStore, clock: Clock, plans: ResponsePlans) -> None:
        self._store = store
        self._clock = clock
        self._plans = plans

    async def action_reported(self, env: Envelope) -> list[Envelope]:
        report = env.payload(ActionReported)
        if report.status not in TERMINAL:
            return []

        async def release() -> Changes:
            changes = Changes(release=[(report.target, report.action_id)])
            if report.status in UNCOVERED:
                covers = await self._store.covered_by(report.action_id)
                changes.outbox += [c.handoff for c in covers]
                changes.uncover.append(report.action_id)
            elif report.status is ReportStatus.VERIFIED:
                changes.uncover.append(report.action_id)
            return changes

        return await process_once(self._store, self._clock, env.id, release)

    async def control_changed(self, env: Envelope) -> list[Envelope]:
        change = env.payload(ControlChanged)
        try:
            setting = parse_control(change.kind, change.value, change.scope, change.changed_by)
        except InvalidControl as err:
            raise PoisonMessage(str(err)) from None
        if change.kind is ControlKind.PLAN_RUN_MODE:
            await self._hold_to_the_bar(change, setting.scope)
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

    async def _hold_to_the_bar(self, change: ControlChanged, scope: str) -> None:
        current = current_run_mode(self._plans, await self._store.controls(), scope)
        try:
            check_run_mode_change(
                current,
                RunMode(change.value.strip().lower()),
                change.evidence,
                forced=change.forced,
                reason=change.reason,
            )
        except PromotionRefused as err:
            raise PoisonMessage(f"plan_run_mode for {scope} refused: {err}") from None
        if change.forced and RunMode(change.value.strip().lower()) is not current:
            log.warning("forced run-mode change for %s by %s: %s", scope, change.changed_by, change.reason)
