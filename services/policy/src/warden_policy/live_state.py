"""The live facts a decision needs, read from the state store: operator controls, the target's
holder and the blast-radius counters. Read again at approval time, so guards apply twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from warden_contracts.events import ProposedAction

from warden_policy.domain.model import AccessLevel, Scope, effective_controls
from warden_policy.domain.rules import DecisionRequest
from warden_policy.ports import StateStore

WINDOW = timedelta(hours=1)


class LiveState:
    def __init__(self, store: StateStore, default_access: AccessLevel) -> None:
        self._store = store
        self._default_access = default_access

    async def request(
        self,
        *,
        incident_id: str,
        incident_class: str,
        environment: str,
        action: ProposedAction,
        now: datetime,
        resource_group: str | None = None,
        scheduled_task: str | None = None,
        requested_by: str = "warden-planner",
        suspected_injection: bool = False,
    ) -> DecisionRequest:
        stored = await self._store.controls()
        controls = effective_controls(stored, Scope(environment, action.target, incident_id), self._default_access)
        slot = await self._store.live_slot(action.target, now)
        counts = await self._store.released_counts(action.target, incident_id, now - WINDOW)
        return DecisionRequest(
            incident_id=incident_id,
            incident_class=incident_class,
            environment=environment,
            action=action,
            controls=controls,
            now=now,
            resource_group=resource_group,
            scheduled_task=scheduled_task,
            requested_by=requested_by,
            target_held_by=slot.action_id if slot else None,
            target_held_for=slot.incident_id if slot else None,
            target_held_hash=slot.action_hash if slot else "",
            counts=counts,
            suspected_injection=suspected_injection,
        )
