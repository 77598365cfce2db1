"""Scheduled tasks on the planner: a due run sweeps the estate read-only and reports.

Where a task is not read-only and a finding has a catalog remedy (an expiring certificate), the
planner proposes it as a `PlanProposed` with `scheduled_task` set, so the policy gate applies that
task's own run mode; nothing here acts. Every output id is derived from the run, so a redelivered
`TaskDue` republishes the same messages and the broker drops the duplicates.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from warden_bus import tracing
from warden_bus.port import Bus
from warden_bus.runtime import Counters, ServiceRuntime
from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope, derived_id, follow_up
from warden_contracts.events import Evidence, PlanProposed, ProposedAction, TaskDue, TaskFinding, TaskReported

from warden_planner.domain.observer import Clock, ObserverError
from warden_planner.domain.scheduled_checks import CHECKS, REMEDIES, summarise

DUE_TOPIC = "sre.task.due.v1"
REPORTED_TOPIC = "sre.task.reported.v1"
PLAN_TOPIC = "sre.plan.proposed.v1"
SOURCE = "warden/planner"
log = logging.getLogger("warden.planner.tasks")


class Estate(Protocol):
    async def list_services(self) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class ScheduledTaskHandler:
    def __init__(self, estate: Estate, bus: Bus, catalog: Catalog, counters: Counters, clock: Clock) -> None:
        self._estate = estate
        self._bus = bus
        self._catalog = catalog
        self._counters = counters
        self._clock = clock

    async def __call__(self, envelope: Envelope) -> None:
        due = envelope.payload(TaskDue)
        check = CHECKS.get(due.kind)
        if check is None:
            await self._report(envelope, due, "failed", f"unknown task kind {due.kind!r}: nothing was checked", [])
            return
        try:
            with tracing.span("tool.list_services", warden__task=due.task, warden__tool="list_services"):
                views = await self._estate.list_services()
        except ObserverError as err:
            await self._report(envelope, due, "failed", f"could not read the estate: {err}", [])
            return
        findings = check(views, due.params)
        evidence = Evidence(
            tool="list_services", params={}, result={"services": views}, untrusted=True, observed_at=self._clock()
        )
        proposals = [] if due.read_only else await self._propose(envelope, due, findings, views, evidence)
        await self._report(envelope, due, "completed", summarise(due.kind, findings), findings, proposals)

    async def _propose(
        self,
        cause: Envelope,
        due: TaskDue,
        findings: list[TaskFinding],
        views: list[dict[str, Any]],
        evidence: Evidence,
    ) -> list[str]:
        kind = REMEDIES.get(due.kind)
        spec = self._catalog.get(kind) if kind else None
        if kind is None or spec is None:
            return []
        by_name = {v.get("name"): v for v in views}
        plan_ids = []
        for finding in findings:
            if finding.severity not in {"warning", "critical"} or finding.subject not in by_name:
                continue
            if self._catalog.check(kind, finding.subject, {}):
                continue  # the catalog refuses this target or these params: report only
            view = by_name[finding.subject]
            plan_id = derived_id(cause.id, f"plan/{finding.subject}")
            action = ProposedAction(
                action_id=derived_id(cause.id, f"action/{finding.subject}"),
                kind=kind,
                target=finding.subject,
                params={},
                rationale=f"scheduled task {due.task}: {finding.summary}",
                confidence=0.9,
                blast_radius=spec.blast_radius,
            )
            plan = PlanProposed(
                incident_id=f"task:{due.task}:{due.run_id}",
                plan_id=plan_id,
                incident_class=f"scheduled:{due.kind}",
                environment=str(view.get("environment") or "unknown"),
                resource_group=view.get("resource_group") if isinstance(view.get("resource_group"), str) else None,
                runbook=f"scheduled:{due.task}",
                summary=f"{due.task}: {finding.subject} {finding.summary}",
                evidence=[evidence],
                actions=[action],
                planner="scheduled-task",
                scheduled_task=due.task,
            )
            await self._bus.publish(follow_up(cause, PLAN_TOPIC, plan, source=SOURCE, id=plan_id))
            plan_ids.append(plan_id)
        self._counters.inc("task_proposals", len(plan_ids))
        return plan_ids

    async def _report(
        self,
        cause: Envelope,
        due: TaskDue,
        status: str,
        summary: str,
        findings: list[TaskFinding],
        proposals: list[str] | None = None,
    ) -> None:
        missed = f"; {due.missed_count} scheduled run(s) were missed before this one" if due.missed_count else ""
        report = TaskReported(
            task=due.task,
            run_id=due.run_id,
            kind=due.kind,
            status="completed" if status == "completed" else "failed",
            summary=summary + missed,
            scheduled_for=due.scheduled_for,
            findings=findings,
            proposals=proposals or [],
            missed=due.missed,
            missed_count=due.missed_count,
        )
        report_id = derived_id(cause.id, "task-reported")
        await self._bus.publish(follow_up(cause, REPORTED_TOPIC, report, source=SOURCE, id=report_id))
        self._counters.inc("task_reports", status=report.status)
        log.info("%s run %s %s: %s", due.task, due.run_id, report.status, report.summary)


def register_scheduled_tasks(
    runtime: ServiceRuntime, catalog: Catalog, clock: Clock, estate: Estate
) -> ScheduledTaskHandler:
    """Subscribe the planner to due runs; the estate client is closed with the runtime."""
    handler = ScheduledTaskHandler(estate, runtime.bus, catalog, runtime.counters, clock)
    runtime.bus.subscribe(DUE_TOPIC, handler)
    runtime.on_stop.append(estate.close)
    return handler
