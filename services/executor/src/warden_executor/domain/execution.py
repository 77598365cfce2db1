"""One signed action, from admission to a verified (or rolled back, or escalated) outcome.

The domain decides, adapters act: every write goes through the TargetProvider port, every record
through the Ledger, every message through the Publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden_contracts.catalog import ActionSpec, Catalog
from warden_contracts.envelope import Envelope
from warden_contracts.events import ReportStatus, SignedAction
from warden_security.signatures import PublicKey

from warden_executor.domain import admission as gate
from warden_executor.domain.controls import ControlStore, kill_switch_reason
from warden_executor.domain.model import ActResult, Grant, LedgerEntry, LedgerState, TargetNotFound
from warden_executor.domain.reports import action_report, escalation
from warden_executor.domain.verification import POLL_INTERVAL_S, Clock, verify

log = logging.getLogger("warden.executor")
RESUMED = "resumed after interruption"


class TargetProvider(Protocol):
    async def observe(self, target: str) -> dict[str, Any]:
        """Live state and metrics of the target (read-only, no grant needed)."""

    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        """Perform a catalog action with the grant's write credential."""


class Ledger(Protocol):
    """One row per action id, shared by every executor replica. A `started` row is held by the
    replica that started or claimed it, for as long as that replica keeps its lease alive; the
    ledger, not the process, decides who may act (insert-if-absent, compare-and-set claims)."""

    async def get(self, action_id: str) -> LedgerEntry | None: ...

    async def unfinished(self) -> list[LedgerEntry]:
        """Rows still `started` that this replica may finish: its own (a previous process of the
        same replica died) or ones whose holder stopped renewing its lease."""

    async def start(self, entry: LedgerEntry) -> bool:
        """Insert a `started` row held by this replica; False when the action id is already there."""

    async def claim(self, action_id: str) -> LedgerEntry | None:
        """Take over a `started` row that is this replica's or whose lease lapsed; None when it is
        done, gone, or still held by a live replica."""

    async def close_unstarted(self, entry: LedgerEntry) -> None:
        """Record an action refused or skipped before acting (state done) so it never runs later."""

    async def announce(self, action_id: str, observed: dict[str, Any]) -> bool:
        """The `started` report is acknowledged: from now on the target may be touched. False when
        this replica no longer holds the row (its lease lapsed and another claimed it): do not act."""

    async def record_before(self, action_id: str, before: dict[str, Any]) -> None: ...

    async def finish(self, action_id: str, outcome: str, detail: str) -> None: ...

    async def abandon(self, action_id: str) -> None:
        """Forget a `started` row this replica holds, when provably nothing was done yet."""


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's acknowledgement."""


@dataclass
class Run:
    cause: Envelope
    action: SignedAction
    grant: Grant
    clock: Clock
    timeline: list[str] = field(default_factory=list)
    observations: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = field(default_factory=list)
    # How a restarted executor decided what to do with an interrupted action (goes in the report).
    recovery: str | None = None

    def note(self, text: str) -> None:
        self.timeline.append(f"{self.clock.now().isoformat()} {text}")

    def saw(self, tool: str, result: dict[str, Any]) -> None:
        self.observations.append((tool, {"target": self.action.target}, result, self.clock.now()))


class ActionExecutor:
    def __init__(
        self,
        *,
        trusted: Mapping[str, PublicKey],
        catalog: Catalog,
        ledger: Ledger,
        controls: ControlStore,
        target: TargetProvider,
        publisher: Publisher,
        clock: Clock,
        poll_interval_s: float = POLL_INTERVAL_S,
        on_outcome: Callable[[ReportStatus], None] | None = None,
    ) -> None:
        self._trusted, self._catalog, self._ledger = trusted, catalog, ledger
        self._controls, self._target, self._publisher, self._clock = controls, target, publisher, clock
        self._interval = poll_interval_s
        self._on_outcome = on_outcome

    async def handle(self, cause: Envelope, grant: Grant) -> ReportStatus | None:
        """Returns the status reported, or None for a redelivery whose outcome is already out."""
        action = cause.payload(SignedAction)
        problems = gate.signature_problems(action, self._trusted, self._clock.now())
        entry = await self._ledger.get(action.action_id)
        if problems and entry is not None and gate.expired_mid_action(action, self._trusted, entry, cause.id):
            held = await self._claim(cause, action)
            return None if held is None else await self._verify_expired(Run(cause, action, grant, self._clock), held)
        if problems:
            return await self._refuse(cause, action, "; ".join(problems), remember=False)
        verdict = gate.replay_verdict(entry, cause.id)
        if verdict.kind is gate.Replay.REPLAYED:
            return await self._refuse(cause, action, verdict.reason, remember=False)
        if verdict.kind is gate.Replay.REDELIVERED_DONE:
            log.info(
                "action %s already done; redelivery acknowledged",
                action.action_id,
                extra={"correlationid": cause.correlationid},
            )
            return None
        if verdict.kind is gate.Replay.RESUME:
            held = await self._claim(cause, action)
            return None if held is None else await self._resume(Run(cause, action, grant, self._clock), held)
        return await self._admit_and_run(Run(cause, action, grant, self._clock))

    async def _claim(self, cause: Envelope, action: SignedAction) -> LedgerEntry | None:
        """An interrupted action is finished by one replica only: the one whose claim succeeds."""
        held = await self._ledger.claim(action.action_id)
        if held is None:
            log.info(
                "action %s is held by a live replica (or finished meanwhile); it reports the outcome",
                action.action_id,
                extra={"correlationid": cause.correlationid},
            )
        return held

    async def unfinished(self) -> list[Envelope]:
        """The approved messages of actions a previous process left unfinished, oldest first."""
        found: list[Envelope] = []
        for entry in await self._ledger.unfinished():
            if entry.envelope is None:
                log.warning("unfinished action %s has no stored message; waiting for its redelivery", entry.action_id)
                continue
            found.append(Envelope.from_bytes(entry.envelope.encode()))
        return found

    async def _admit_and_run(self, run: Run) -> ReportStatus | None:
        cause, action = run.cause, run.action
        # The row is taken before anything is decided or said: of two replicas given this message
        # only the one holding the row reports, so the other can never report `skipped` (or
        # `rejected`) for an action the first is carrying out. A crash before the `started` report
        # leaves the row unannounced, and the redelivery admits the action again from scratch.
        if not await self._ledger.start(self._entry(cause, action, LedgerState.STARTED)):
            taken = await self._ledger.get(action.action_id)
            if taken is not None and taken.envelope_id == cause.id:
                # The same message reached another replica first (both pulled it, or a redelivery):
                # that one decides, acts and reports; this one does neither.
                log.info("action %s was taken by another replica", action.action_id)
                return None
            return await self._refuse(cause, action, "replayed: already started", remember=False)
        try:
            admitted = await self._admit(run)
        except BaseException:
            # Nothing was touched yet (target unreachable, broker down): forget the row so the
            # redelivery starts cleanly.
            await self._ledger.abandon(action.action_id)
            raise
        if isinstance(admitted, ReportStatus):
            return admitted
        return await self._execute(run, *admitted)

    async def _admit(self, run: Run) -> ReportStatus | tuple[ActionSpec, dict[str, Any]]:
        """Refuses or skips (reported, row closed), or returns what acting needs."""
        cause, action = run.cause, run.action
        unapproved = gate.approval_problems(action)
        if unapproved:
            return await self._refuse(cause, action, "; ".join(unapproved), remember=True)
        blocked = await kill_switch_reason(self._controls, action.target)
        if blocked:
            return await self._refuse(cause, action, blocked, remember=True)
        spec, problems = gate.catalog_problems(self._catalog, action)
        if problems or spec is None:
            return await self._refuse(cause, action, "; ".join(problems), remember=True)
        try:
            view = await self._target.observe(action.target)
        except TargetNotFound as err:
            return await self._refuse(cause, action, f"target not found: {err}", remember=True)
        changes = gate.preflight_changes(spec, action, view)
        if changes:
            detail = f"{gate.CHANGED_SINCE_APPROVAL}: {'; '.join(changes)}"
            evidence = {"observed": view} | ({"recovery": run.recovery} if run.recovery else {})
            await self._publish(action_report(cause, action, ReportStatus.SKIPPED, detail, evidence))
            await self._ledger.finish(action.action_id, "skipped", detail)
            return self._outcome(ReportStatus.SKIPPED)
        return spec, view

    async def _refuse(self, cause: Envelope, action: SignedAction, reason: str, *, remember: bool) -> ReportStatus:
        """`remember`: close the row this run holds, so the action never runs later."""
        log.warning("refused action %s: %s", action.action_id, reason, extra={"correlationid": cause.correlationid})
        await self._publish(action_report(cause, action, ReportStatus.REJECTED, reason))
        if remember:
            await self._ledger.finish(action.action_id, "rejected", reason)
        return self._outcome(ReportStatus.REJECTED)

    async def _execute(self, run: Run, spec: ActionSpec, view: dict[str, Any]) -> ReportStatus | None:
        action, grant = run.action, run.grant
        evidence = {"grant_id": grant.grant_id, "grant_expires_at": grant.expires_at.isoformat(), "observed": view}
        try:
            await self._publish(
                action_report(run.cause, action, ReportStatus.STARTED, f"acting under grant {grant.grant_id}", evidence)
            )
        except BaseException:
            # Nothing was touched yet: forget the intent so the redelivery starts cleanly.
            await self._ledger.abandon(action.action_id)
            raise
        if not await self._ledger.announce(action.action_id, view):
            # Our lease lapsed (this process stalled) and another replica claimed the action.
            log.warning("action %s was claimed by another replica before it was touched", action.action_id)
            return None
        run.note(f"started {action.kind} on {action.target} with {action.params} under grant {grant.grant_id}")
        return await self._act(run, spec, view)

    async def _act(self, run: Run, spec: ActionSpec, view: dict[str, Any]) -> ReportStatus:
        action, grant = run.action, run.grant
        run.saw("observe", view)
        try:
            result = await self._target.act(action.kind, action.target, action.params, grant)
        except Exception as err:
            run.note(f"{action.kind} call failed: {err}")
            return await self._fail(run, f"{action.kind} call failed: {err}", {"error": str(err)})
        await self._ledger.record_before(action.action_id, result.before)
        run.saw("act.before", result.before)
        run.note(f"{action.kind} accepted by the target; verifying")
        return await self._verify_and_settle(run, spec, result.before, resumed=run.recovery is not None)

    async def _resume(self, run: Run, entry: LedgerEntry) -> ReportStatus | None:
        """Finish an interrupted action from the ledger and the target's own state, acting at most once."""
        action = run.action
        if not entry.announced:
            # The crash came before the `started` acknowledgement, so the target was never touched.
            run.recovery = "interrupted before the target was touched: admitted again"
            run.note(f"{RESUMED}: {run.recovery}")
            await self._ledger.abandon(action.action_id)
            return await self._admit_and_run(run)
        spec = self._catalog.get(action.kind)
        if spec is None or spec.verification is None:
            return await self._fail(run, f"{RESUMED}: {action.kind!r} cannot be verified", {})
        if entry.before is not None:
            run.recovery = "the target had accepted the action: verified only"
        else:
            try:
                view = await self._target.observe(action.target)
            except TargetNotFound as err:
                return await self._fail(run, f"{RESUMED}: target not found: {err}", {})
            run.saw("recovery.observe", view)
            if gate.effect_absent(spec, action, view):
                # Acting again is a fresh write: an operator may have engaged the kill switch meanwhile.
                blocked = await kill_switch_reason(self._controls, action.target)
                if blocked:
                    run.recovery = f"the action never landed and was not retried: {blocked}"
                    run.note(f"{RESUMED}: {run.recovery}")
                    return await self._conclude(
                        run, ReportStatus.REJECTED, f"{RESUMED}: {blocked}", {"observed": view}, escalate=True
                    )
                run.recovery = "the target still shows the approved problem, so the action never landed: acted once"
                run.note(f"{RESUMED}: {run.recovery}")
                return await self._act(run, spec, view)
            run.recovery = (
                "the target no longer shows the approved problem: verified only, not acted again"
                if spec.preflight or gate.observable_params(spec, action)
                else "whether the action landed cannot be observed: verified only, never acted twice"
            )
        run.note(f"{RESUMED}: {run.recovery}")
        return await self._verify_and_settle(run, spec, entry.before or entry.observed, resumed=True)

    async def _verify_expired(self, run: Run, entry: LedgerEntry) -> ReportStatus:
        """The approval lapsed while the action was interrupted: never act on it again, but the
        target may have been touched, so its outcome is still verified and reported."""
        run.recovery = "the approval expired during the interruption: verified only, never acted again"
        run.note(f"{RESUMED}: {run.recovery}")
        spec = self._catalog.get(run.action.kind)
        if spec is None or spec.verification is None:
            return await self._fail(run, f"{RESUMED}: {run.action.kind!r} cannot be verified", {})
        return await self._verify_and_settle(run, spec, entry.before or entry.observed, resumed=True)

    async def _verify_and_settle(
        self, run: Run, spec: ActionSpec, before: dict[str, Any] | None, *, resumed: bool
    ) -> ReportStatus:
        recipe = spec.verification
        assert recipe is not None  # admission refuses actions without a verification recipe
        prefix = f"{RESUMED}: " if resumed else ""
        result = await verify(self._target.observe, run.action.target, recipe, self._clock, self._interval)
        run.saw("verify", result.observed)
        evidence = result.evidence(recipe.checks) | {"grant_id": run.grant.grant_id}
        if result.ok:
            run.note(f"verified after {result.attempts} observation(s)")
            detail = f"{prefix}verified: {', '.join(c.describe() for c in recipe.checks)}"
            return await self._conclude(run, ReportStatus.VERIFIED, detail, evidence)
        failed = f"verification failed within {recipe.timeout_s:g} s: {'; '.join(result.failing)}"
        run.note(failed)
        evidence["failing"] = result.failing
        if spec.rollback is None:
            return await self._fail(run, f"{prefix}{failed}; no rollback recipe", evidence)
        status, detail = await self._rollback(run, spec, before, evidence)
        return await self._conclude(run, status, f"{prefix}{failed}; {detail}", evidence, escalate=True)

    async def _rollback(
        self, run: Run, spec: ActionSpec, before: dict[str, Any] | None, evidence: dict[str, Any]
    ) -> tuple[ReportStatus, str]:
        assert spec.rollback is not None
        recipe = spec.rollback
        params, missing = gate.rollback_params(recipe, before)
        if missing:
            run.note(f"rollback impossible: {'; '.join(missing)}")
            return ReportStatus.FAILED, f"rollback impossible: {'; '.join(missing)}"
        evidence["rollback"] = {"kind": recipe.kind, "params": params}
        try:
            result = await self._target.act(recipe.kind, run.action.target, params, run.grant)
        except Exception as err:
            run.note(f"rollback {recipe.kind} {params} failed: {err}")
            return ReportStatus.FAILED, f"rollback {recipe.kind} {params} failed: {err}"
        run.saw("rollback.after", result.after)
        evidence["rollback"]["after"] = result.after
        run.note(f"rolled back with {recipe.kind} {params}")
        return ReportStatus.ROLLED_BACK, f"rolled back with {recipe.kind} {params}"

    async def _fail(self, run: Run, detail: str, evidence: dict[str, Any]) -> ReportStatus:
        return await self._conclude(run, ReportStatus.FAILED, detail, evidence, escalate=True)

    async def _conclude(
        self, run: Run, status: ReportStatus, detail: str, evidence: dict[str, Any], *, escalate: bool = False
    ) -> ReportStatus:
        # The ledger is closed last: a crash before it replays the same derived ids, never the action.
        run.note(f"reported {status.value}: {detail}")
        if run.recovery:
            evidence = evidence | {"recovery": run.recovery}
        await self._publish(action_report(run.cause, run.action, status, detail, evidence))
        if escalate:
            await self._publish(escalation(run.cause, run.action, detail, run.timeline, run.observations))
        await self._ledger.finish(run.action.action_id, status.value, detail)
        return self._outcome(status)

    async def _publish(self, envelope: Envelope) -> None:
        await self._publisher.publish(envelope)

    def _outcome(self, status: ReportStatus) -> ReportStatus:
        if self._on_outcome is not None:
            self._on_outcome(status)
        return status

    @staticmethod
    def _entry(
        cause: Envelope, action: SignedAction, state: LedgerState, outcome: str | None = None, detail: str = ""
    ) -> LedgerEntry:
        return LedgerEntry(
            action_id=action.action_id,
            envelope_id=cause.id,
            incident_id=action.incident_id,
            kind=action.kind,
            target=action.target,
            state=state,
            outcome=outcome,
            detail=detail,
            envelope=cause.to_bytes().decode(),
        )
