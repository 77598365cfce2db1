"""No standing rights: a doorbell makes the executor elevate, drain the approved actions, release.

Drains are serialised, so two doorbells never hold two grants at once; a doorbell that finds
the queue empty simply drains nothing. Actions are fetched one at a time and only while the
grant has time left for a whole action (act, verification, rollback).

A doorbell whose action the ledger already has done (an earlier drain took it on the way) asks
for no grant, unless a drain is owed: every drain marks one owed in the journal when it starts
and only a drain that ends with an empty queue pays the marks, so a doorbell redelivered on
purpose (`RetryLater`: the drain stopped early with work left) still elevates, also after a
restart.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope

from warden_executor.domain.controls import ControlStore, kill_switch_reason
from warden_executor.domain.model import ElevationUnavailable, Grant, LedgerEntry, LedgerState
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
    async def elevate(self, justification: str, ttl_s: int, action_id: str | None = None) -> Grant:
        """A grant for the approved action `action_id` (policy's ticket names its one target),
        or for None the oldest ticketed action; a PIM activation covers its configured roles."""

    async def release(self, grant: Grant) -> None: ...


class ApprovedActionSource(Protocol):
    async def drain(self, grant: Grant, handler: ActionHandler, *, max_messages: int) -> int:
        """Consume up to `max_messages` approved actions under the grant; returns how many."""

    async def in_flight(self, grant: Grant) -> int:
        """Approved actions not acknowledged yet: delivered to a process that died (until the
        broker redelivers them) or already back in line."""


class GrantedHandler(Protocol):
    async def handle(self, cause: Envelope, grant: Grant) -> object: ...

    async def unfinished(self) -> list[Envelope]:
        """Approved messages of actions an earlier process started and did not finish."""


class DrainJournal(Protocol):
    """Durable marks of open drains (one left open at start-up means the process died mid-drain)
    and of owed drains (work may wait in the queue until a drain ends with it empty)."""

    async def opened(self, drain_id: str, reason: str) -> None: ...

    async def closed(self, drain_id: str) -> None: ...

    async def left_open(self) -> list[str]: ...

    async def owe(self, drain_id: str, reason: str) -> None:
        """Mark a drain owed (idempotent per id)."""

    async def owed(self) -> list[str]:
        """The owed marks of every replica: the queue is shared, so is the debt."""

    async def paid(self, drain_ids: list[str]) -> None:
        """Remove these marks (a drain that began after they were made ended with an empty queue)."""


class SettledActions(Protocol):
    async def get(self, action_id: str) -> LedgerEntry | None: ...


@dataclass(frozen=True)
class DrainResult:
    elevated: bool
    handled: int = 0
    grant_id: str | None = None
    # Set when work may be left behind: the doorbell should ring again (a new grant).
    retry: str | None = None
    detail: str = ""
    # The doorbell's action was already done and no drain was owed: no grant was asked for.
    already_done: bool = False


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
        journal: DrainJournal,
        ledger: SettledActions,
        max_actions: int = 50,
        orphan_poll_s: float = 0.5,
    ) -> None:
        if ttl_s <= action_budget_s:
            raise ValueError(f"elevation ttl {ttl_s} s cannot cover one action ({action_budget_s:g} s)")
        self._elevation, self._source, self._executor = elevation, source, executor
        self._controls, self._clock, self._journal, self._ledger = controls, clock, journal, ledger
        self._ttl_s, self._budget_s, self._max_actions = ttl_s, action_budget_s, max_actions
        self._orphan_poll_s = orphan_poll_s
        self._lock = asyncio.Lock()

    async def on_doorbell(self, action_id: str, incident_id: str | None = None) -> DrainResult:
        # The justification names the incident and the action (PIM shows it to reviewers; the
        # embedded authority files the activation under the incident).
        incident = f"incident {incident_id} " if incident_id else ""
        async with self._lock:
            if await self._nothing_to_do(action_id):
                return DrainResult(elevated=False, detail=f"action {action_id} already done", already_done=True)
            return await self._elevate_and_drain(f"{incident}action {action_id} (doorbell)", action_id=action_id)

    async def _nothing_to_do(self, action_id: str) -> bool:
        """The ledger has the action done (a drain took it) and no drain is owed: each grant is
        an audited elevation, so a redelivered doorbell must not ask for one to drain nothing."""
        entry = await self._ledger.get(action_id)
        if entry is None or entry.state is not LedgerState.DONE:
            return False
        return not await self._journal.owed()

    async def recover(self) -> DrainResult | None:
        """At start-up: finish what a killed process left (unfinished actions, an open drain).

        None when there was nothing to recover. The recovery does not wait for a doorbell: the
        approved messages of interrupted actions are in the ledger, and a drain that was open may
        have left messages delivered but unacknowledged, which come back after the ack wait.
        A drain left open with no unfinished action, when no grant is given for it, is marked
        owed and closed: the killed drain's doorbell comes back unacknowledged and drains.
        """
        async with self._lock:
            open_drains = await self._journal.left_open()
            pending = await self._executor.unfinished()
            if not open_drains and not pending:
                return None
            ids = ", ".join(sorted({str(e.data.get("action_id")) for e in pending})) or "none"
            log.warning("recovering after restart: %d open drain(s), unfinished actions: %s", len(open_drains), ids)
            first = str(pending[0].data.get("action_id")) if pending else None
            try:
                result = await self._elevate_and_drain(
                    f"recovery after restart (unfinished actions: {ids})", pending, action_id=first
                )
            except ElevationUnavailable as err:
                if pending:
                    raise  # an interrupted action waits for its grant: recovery runs again
                # Only a drain was left open, no action of its own: an authority that grants per
                # action (policy tickets) has nothing to grant this for, so retrying kept the drain
                # open and failed every second for ever. What the drain may have left delivered
                # comes back with its unacknowledged doorbell, which the owed mark makes elevate.
                log.warning("open drain(s) left to the doorbells' redelivery, owed: %s", err)
                for drain_id in open_drains:
                    await self._journal.owe(drain_id, "left open by an interrupted process")
                result = DrainResult(elevated=False, detail=f"open drain owed to the next doorbell: {err}")
            for drain_id in open_drains:
                await self._journal.closed(drain_id)
            return result

    async def drain_until_empty(self, attempts: int = 5) -> DrainResult:
        """Job-style hosting: recover, then drain with fresh grants until the queue is empty."""
        result = await self.recover()
        for _ in range(attempts):
            if result is not None and (not result.elevated or result.retry is None):
                break
            async with self._lock:
                result = await self._elevate_and_drain("drain-once run")
        return result or DrainResult(elevated=False, detail="no drain attempted")

    async def _elevate_and_drain(
        self, justification: str, pending: list[Envelope] | None = None, *, action_id: str | None = None
    ) -> DrainResult:
        if await kill_switch_reason(self._controls, None):
            log.warning("%s: %s", justification, NOT_ELEVATING)
            return DrainResult(elevated=False, detail=NOT_ELEVATING)
        drain_id = str(uuid.uuid4())
        await self._journal.opened(drain_id, justification)
        try:
            grant = await self._elevation.elevate(justification, self._ttl_s, action_id=action_id)
        except Exception as err:
            await self._journal.closed(drain_id)
            raise ElevationUnavailable(f"elevation failed: {err}") from err
        # Owed until this drain (or a later one) ends with an empty queue: a crash, a failure or an
        # early stop leaves the mark, so the doorbell redelivered for it elevates again.
        await self._journal.owe(drain_id, justification)
        owed_before = await self._journal.owed()
        emptied = False
        try:
            for envelope in pending or []:
                await self._handle_covered(envelope, grant)
            result = await self._drain(grant)
            emptied = result.retry is None
            return result
        finally:
            await self._release(grant)
            if emptied:
                await self._journal.paid(sorted({*owed_before, drain_id}))
            else:
                # Again: a drain of another replica that emptied the queue meanwhile paid it.
                await self._journal.owe(drain_id, justification)
            # Only a killed process leaves the mark behind; a failure here rings the doorbell again.
            await self._journal.closed(drain_id)

    async def _drain(self, grant: Grant) -> DrainResult:
        handled = 0
        failures: list[str] = []

        async def guarded(envelope: Envelope) -> None:
            try:
                await self._handle_covered(envelope, grant)
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
                orphans = await self._source.in_flight(grant)
                if orphans == 0:
                    return DrainResult(True, handled, grant.grant_id, detail="queue empty")
                # Delivered to a process that died: the broker redelivers after its ack wait.
                log.info("%d approved action(s) await redelivery from an interrupted drain", orphans)
                await self._clock.sleep(self._orphan_poll_s)
                continue
            handled += taken
            if failures:
                return DrainResult(True, handled, grant.grant_id, retry=f"action failed: {failures[0]}")
        return DrainResult(True, handled, grant.grant_id, retry=f"drained {handled} actions; more may wait")

    async def _handle_covered(self, envelope: Envelope, grant: Grant) -> None:
        """Run an action under a grant for that action: an action-bound grant (embedded tickets)
        only writes to its own action's target, so another action drained on the way gets its own
        grant, asked for by its id. Refused: the drain's grant is used, and whatever the action
        needs beyond verification and refusal the target refuses."""
        action_id = str(envelope.data.get("action_id", ""))
        if grant.action_id is None or grant.action_id == action_id:
            await self._executor.handle(envelope, grant)
            return
        try:
            own = await self._elevation.elevate(f"action {action_id} (drained)", self._ttl_s, action_id=action_id)
        except Exception as err:
            log.warning("no grant for drained action %s (%s): checked under the drain's grant", action_id, err)
            await self._executor.handle(envelope, grant)
            return
        try:
            await self._executor.handle(envelope, own)
        finally:
            await self._release(own)

    async def _release(self, grant: Grant) -> None:
        try:
            await self._elevation.release(grant)
        except Exception:
            # The grant still expires on its own; a failed release must not hide the drain's outcome.
            log.exception("release of grant %s failed; it expires at %s", grant.grant_id, grant.expires_at)
