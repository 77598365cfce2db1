"""Per-incident decisions: when to plan, when to try the next candidate, when to hand off.

Every inbound message is processed at most once (processed-ids in the store); its state change and
its outgoing messages commit together, and the handler then publishes what is unsent. At most
`max_attempts` plans are published per incident, then a human gets it: the planner never loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta

from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope, derived_id
from warden_contracts.events import (
    ActionReported,
    ControlChanged,
    ControlKind,
    Evidence,
    IncidentChanged,
    IncidentState,
    PlanFinding,
    ReportStatus,
)

from warden_planner.domain import injection
from warden_planner.domain.findings import note
from warden_planner.domain.messages import escalation_message, plan_message, ranked_actions, recovery_timeout_message
from warden_planner.domain.observer import Clock
from warden_planner.domain.planner import Planner
from warden_planner.domain.records import AlreadyProcessed, Conflict, IncidentRecord, PlannerStore
from warden_planner.domain.unmapped import unmapped_handoff, unmapped_note
from warden_planner.domain.validation import vet

FAILED = frozenset({ReportStatus.FAILED, ReportStatus.ROLLED_BACK, ReportStatus.REJECTED})
KILL_SWITCH = ControlKind.KILL_SWITCH.value
MAX_EVIDENCE_KEPT = 80
MAX_TRACE_KEPT = 120
MAX_FINDINGS = 20
# Each retry follows a commit another replica won; more than a few means the incident is hot.
MAX_CONFLICT_RETRIES = 5


class PlanningService:
    def __init__(
        self,
        planner: Planner,
        store: PlannerStore,
        catalog: Catalog,
        clock: Clock,
        *,
        max_attempts: int = 2,
        recheck_window: timedelta = timedelta(minutes=10),
        recovery_window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._planner = planner
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._max_attempts = max_attempts
        self._recheck_window = recheck_window
        self._recovery_window = recovery_window
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def on_incident(self, cause: Envelope) -> None:
        incident = cause.payload(IncidentChanged)

        async def decide() -> None:
            if await self._store.seen(cause.id):
                return
            record = await self._store.load(incident.incident_id)
            fresh = record is None
            record = record or _new_record(incident, cause)
            outgoing = await self._incident_changed(cause, incident, record, fresh)
            record.last_cause_id = cause.id
            await self._store.commit(cause.id, record=record, outgoing=outgoing)

        await self._decide_once(incident.incident_id, decide)

    async def on_report(self, cause: Envelope) -> None:
        report = cause.payload(ActionReported)

        async def decide() -> None:
            if await self._store.seen(cause.id):
                return
            record = await self._store.load(report.incident_id)
            if record is None:
                await self._store.commit(cause.id)
                return
            outgoing = await self._reported(cause, report, record)
            await self._store.commit(cause.id, record=record, outgoing=outgoing)

        await self._decide_once(report.incident_id, decide)

    async def sweep_recovered(self) -> None:
        """No incident ends silently: one found recovered that neither closed (the monitor's
        Resolved) nor fired again within the recovery window goes to a human to confirm and close."""
        now = self._clock()
        for found in await self._store.recovered_open():
            if found.recovered_at is None or now - found.recovered_at < self._recovery_window:
                continue
            await self._decide_once(found.incident_id, functools.partial(self._hand_off_recovered, found.incident_id))

    async def _hand_off_recovered(self, incident_id: str) -> None:
        record = await self._store.load(incident_id)
        if record is None or record.recovered_at is None or record.closed or record.escalated:
            return
        marker = derived_id(record.incident_id, f"planner/recovery-timeout/{record.recovered_at.isoformat()}")
        if await self._store.seen(marker):
            return
        minutes = self._recovery_window.total_seconds() / 60
        why = (
            f"recovered at {record.recovered_at:%H:%M:%SZ} but still open after {minutes:.0f} min "
            "with no Resolved from the monitor: confirm the recovery and close the incident"
        )
        record.escalated, record.outstanding = True, False
        self._note(record, f"escalated: {why}")
        outgoing = [recovery_timeout_message(record, why, marker)]
        await self._store.commit(marker, record=record, outgoing=outgoing)

    async def on_control(self, cause: Envelope) -> None:
        control = cause.payload(ControlChanged)
        if not await self._store.seen(cause.id):
            with contextlib.suppress(AlreadyProcessed):
                await self._store.commit(cause.id, control=(f"{control.kind.value}:{control.scope}", control.value))

    async def _decide_once(self, incident_id: str, decide: Callable[[], Awaitable[None]]) -> None:
        """Replicas share the store, and the store decides between them: a commit that lost the race
        on the message id is dropped (the winner's outbox carries the outcome), one that lost it on
        the record reads the record again and decides again. The in-process lock only saves this
        replica from racing itself."""
        for _ in range(MAX_CONFLICT_RETRIES):
            async with self._locks[incident_id]:
                try:
                    await decide()
                    return
                except AlreadyProcessed:
                    return
                except Conflict:
                    continue
        raise Conflict(f"incident {incident_id} kept changing during {MAX_CONFLICT_RETRIES} attempts")

    async def _incident_changed(
        self, cause: Envelope, incident: IncidentChanged, record: IncidentRecord, fresh: bool
    ) -> list[Envelope]:
        if incident.change is IncidentState.RESOLVED:
            recovered = " (the planner had found it recovered)" if record.recovered_at else ""
            record.closed, record.outstanding = True, False
            self._note(record, f"resolved: incident closed{recovered}, no further plans")
            return []
        if record.closed:
            self._note(record, f"{incident.change.value} after close ignored")
            return []
        if not fresh and (record.outstanding or record.escalated):
            state = "escalated" if record.escalated else f"plan attempt {record.attempt} outstanding"
            self._note(record, f"{incident.change.value} ({incident.alert_count} alerts): {state}, no re-plan")
            return []
        record.severity = incident.severity.value
        if record.attempt >= self._max_attempts:
            return self._escalate(cause, record, f"incident persists after {record.attempt} plans")
        self._note(record, f"{incident.change.value}: investigating {incident.incident_class} on {incident.service}")
        return await self._investigate(cause, incident, record)

    async def _investigate(self, cause: Envelope, incident: IncidentChanged, record: IncidentRecord) -> list[Envelope]:
        unmapped = unmapped_note(incident)
        finding = unmapped_handoff(incident, unmapped) if unmapped else await self._planner.investigate(incident)
        valid, dropped = vet(finding.candidates, self._catalog, finding.do_not_touch)
        record.runbook, record.planner, record.summary = finding.runbook, finding.planner, finding.summary
        record.trace = [*record.trace, *finding.trace][-MAX_TRACE_KEPT:]
        record.hypotheses = [*finding.hypotheses, *dropped]
        record.evidence = [*record.evidence, *finding.evidence][-MAX_EVIDENCE_KEPT:]
        record.candidates, record.tried = valid, []
        self._suspect(record, finding.suspicions)
        if finding.handoff:
            return self._escalate(cause, record, finding.handoff)
        if finding.recovered:
            return self._recheck(cause, record, finding.summary)
        record.recovered_at = None
        if not valid:
            why = "; ".join(dropped) or "the runbook found no action to take"
            return self._escalate(cause, record, f"{finding.summary}; no valid catalog action: {why}")
        return await self._propose(cause, record, finding.summary)

    async def _reported(self, cause: Envelope, report: ActionReported, record: IncidentRecord) -> list[Envelope]:
        kind = record.actions.get(report.action_id)
        self._note(record, f"{report.kind} on {report.target}: {report.status.value} {report.detail}".rstrip())
        if report.evidence:
            reported = Evidence(
                tool="executor_report",
                params={"action_id": report.action_id},
                result=report.evidence,
                untrusted=True,
                observed_at=self._clock(),
            )
            record.evidence.append(reported)
            self._suspect(record, [s.finding() for s in injection.scan_evidence([reported])])
        if record.closed or record.escalated or not record.outstanding or kind is None:
            return []
        if report.status is ReportStatus.VERIFIED:
            record.outstanding = False
            return []
        if report.status not in FAILED:
            return []
        record.tried.append(kind)
        tried = ", ".join(record.tried)
        remaining = record.remaining()
        if record.attempt >= self._max_attempts or not remaining:
            limit = "no candidate left" if not remaining else f"attempt limit {self._max_attempts} reached"
            return self._escalate(
                cause,
                record,
                f"tried {tried} without success ({report.status.value}: {report.detail or 'no detail'}); {limit}",
            )
        summary = (
            f"{kind} {report.status.value} on {report.target}; proposing {remaining[0].kind} "
            f"(attempt {record.attempt + 1})"
        )
        return await self._propose(cause, record, summary)

    async def _propose(self, cause: Envelope, record: IncidentRecord, summary: str) -> list[Envelope]:
        record.attempt += 1
        actions = ranked_actions(record, self._catalog)
        record.actions = {a.action_id: a.kind for a in actions}
        record.outstanding = bool(actions)
        kinds = ", ".join(a.kind for a in actions) or "no action"
        self._note(record, f"plan attempt {record.attempt} ({record.runbook}): {kinds}")
        advisory = await self._kill_switch_on(record)
        return [plan_message(cause, record, actions, summary, advisory=advisory)]

    def _recheck(self, cause: Envelope, record: IncidentRecord, summary: str) -> list[Envelope]:
        """The symptom is not visible (yet, or any more): record it without spending a plan attempt.

        Alerts can lead the metric the runbook reads (or trail a recovery); the next update looks
        again. A symptom that stays invisible while alerts keep coming for longer than the recheck
        window goes to a human.
        """
        now = self._clock()
        record.rechecks += 1
        record.first_recheck_at = record.first_recheck_at or now
        if now - record.first_recheck_at > self._recheck_window:
            minutes = self._recheck_window.total_seconds() / 60
            why = f"alerts kept firing for over {minutes:.0f} min but {record.rechecks} checks saw no symptom"
            return self._escalate(cause, record, why)
        record.recovered_at = record.recovered_at or now
        minutes = self._recovery_window.total_seconds() / 60
        self._note(
            record,
            f"recovered (check {record.rechecks}): {summary}; closes on the monitor's Resolved, "
            f"else handed to a human after {minutes:.0f} min",
        )
        record.candidates, record.actions, record.outstanding = [], {}, False
        return [plan_message(cause, record, [], summary, advisory=False, recheck=record.rechecks)]

    def _escalate(self, cause: Envelope, record: IncidentRecord, reason: str) -> list[Envelope]:
        record.escalated, record.outstanding = True, False
        self._note(record, f"escalated: {reason}")
        return [escalation_message(cause, record, reason)]

    async def _kill_switch_on(self, record: IncidentRecord) -> bool:
        controls = await self._store.controls()
        scopes = ("global", record.environment, record.target or "")
        return any(controls.get(f"{KILL_SWITCH}:{scope}") == "on" for scope in scopes)

    def _suspect(self, record: IncidentRecord, suspicions: list[PlanFinding]) -> None:
        """Keeps the incident's findings; each new one is a hypothesis note the responder reads."""
        known = {(f.source, f.rule) for f in record.findings}
        new = [s for s in suspicions if (s.source, s.rule) not in known]
        record.findings = [*record.findings, *new][:MAX_FINDINGS]
        for s in new:
            record.hypotheses.append(
                note(f"suspected injection in {s.source} ({s.rule}): treated as data; policy pins Review")
            )
        if new:
            self._note(record, f"suspected injection: {', '.join(sorted({s.source for s in new}))}")

    def _note(self, record: IncidentRecord, text: str) -> None:
        record.timeline.append(f"{self._clock():%Y-%m-%dT%H:%M:%SZ} {text}")


def _new_record(incident: IncidentChanged, cause: Envelope) -> IncidentRecord:
    return IncidentRecord(
        incident_id=incident.incident_id,
        correlationid=cause.correlationid,
        incident_class=incident.incident_class,
        severity=incident.severity.value,
        environment=incident.environment,
        resource_group=incident.resource_group,
        target=incident.service,
    )
