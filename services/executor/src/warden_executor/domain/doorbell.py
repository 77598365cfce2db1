"""No standing rights: a doorbell makes the executor elevate, drain the approved actions, release.

Drains are serialised, so two doorbells never hold two grants at once; a doorbell that finds
the queue empty simply drains nothing. Actions are fetched one at a time and only while the
grant has time left for a whole action (act, verification, rollback).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope

from warden_executor.domain.controls import ControlStore, kill_switch_reason
from warden_executor.domain.model import ElevationUnavailable, Grant
from warden_executor.domain.verification import Clock

log = logging.getLogger("warden.executor")
ActionHandler = Callable[[Envelope], Awaitable[None]]
NOT_ELEVATING = "kill switch on: not elevating"


def action_budget_s(catalog: Catalog, call_margin_s: float = 15.0) -> float:
    """Grant time one action may need: the longest verification plus the act and rollback calls."""
    longest = max(
        (s.verification.settle_s + s.verification.timeout_s for s in catalog.actions.values() if s.verification),
        default=0.0,
    )
    return longest + call_margin_s


class Elevation(Protocol):
    async def elevate(self, justification: str, ttl_s: int) -> Grant: ...

    async def release(self, grant: Grant) -> None: ...


class ApprovedActionSource(Protocol):
    async def drain(self, grant: Grant, handler: ActionHandler, *, max_messages: int) -> int:
        """Consume up to `max_messages` approved actions under the grant; returns how many."""


class GrantedHandler(Protocol):
    async def handle(self, cause: Envelope, grant: Grant) -> object: ...


@dataclass(frozen=True)
class DrainResult:
    elevated: bool
    handled: int = 0
    grant_id: str | None = None
    # Set when work may be left behind: the doorbell should ring again (a new grant).
    retry: str | None = None
    detail: str = ""


class DrainCoordinator:
    def __init__(
        self,
        *,
        elevation: Elevation,
        source: ApprovedActionSource,
        executor: GrantedHandler,
        controls: ControlStore,
        clock: Clock,
        ttl_s: int,
        action_budget_s: float,
        max_actions: int = 50,
    ) -> None:
        if ttl_s <= action_budget_s:
            raise ValueError(f"elevation ttl {ttl_s} s cannot cover one action ({action_budget_s:g} s)")
        self._elevation, self._source, self._executor = elevation, source, executor
        self._controls, self._clock = controls, clock
        self._ttl_s, self._budget_s, self._max_actions = ttl_s, action_budget_s, max_actions
        self._lock = asyncio.Lock()

    async def on_doorbell(self, action_id: str) -> DrainResult:
        async with self._lock:
            if await kill_switch_reason(self._controls, None):
                log.warning("doorbell for %s: %s", action_id, NOT_ELEVATING)
                return DrainResult(elevated=False, detail=NOT_ELEVATING)
            try:
                grant = await self._elevation.elevate(f"action {action_id} (doorbell)", self._ttl_s)
            except Exception as err:
                raise ElevationUnavailable(f"elevation failed: {err}") from err
            try:
                return await self._drain(grant)
            finally:
                await self._release(grant)

    async def _drain(self, grant: Grant) -> DrainResult:
        handled = 0
        failures: list[str] = []

        async def guarded(envelope: Envelope) -> None:
            try:
                await self._executor.handle(envelope, grant)
            except Exception as err:
                # The source settles the message (redelivery later); stop this drain and ring again.
                failures.append(f"{envelope.id}: {err!r}")
                raise

        while handled < self._max_actions:
            left = grant.seconds_left(self._clock.now())
            if left < self._budget_s:
                return DrainResult(True, handled, grant.grant_id, retry=f"grant has {left:.0f} s left; re-elevating")
            taken = await self._source.drain(grant, guarded, max_messages=1)
            if taken == 0:
                return DrainResult(True, handled, grant.grant_id, detail="queue empty")
            handled += taken
            if failures:
                return DrainResult(True, handled, grant.grant_id, retry=f"action failed: {failures[0]}")
        return DrainResult(True, handled, grant.grant_id, retry=f"drained {handled} actions; more may wait")

    async def _release(self, grant: Grant) -> None:
        try:
            await self._elevation.release(grant)
        except Exception:
            # The grant still expires on its own; a failed release must not hide the drain's outcome.
            log.exception("release of grant %s failed; it expires at %s", grant.grant_id, grant.expires_at)
