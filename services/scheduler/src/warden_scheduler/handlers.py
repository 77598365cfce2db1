"""Thin bus edges: publish a due run; free the task when the planner reports the run."""

from __future__ import annotations

import logging

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import TaskDue, TaskReported

from warden_scheduler.domain.runner import Scheduler

DUE_TOPIC = "sre.task.due.v1"
REPORTED_TOPIC = "sre.task.reported.v1"
SOURCE = "warden/scheduler"
log = logging.getLogger("warden.scheduler")


def due_envelope(due: TaskDue) -> Envelope:
    # The run id is derived from task and time: a republish after a crash is de-duplicated.
    return envelope_for(
        DUE_TOPIC, due, source=SOURCE, correlationid=f"task:{due.task}:{due.run_id}", subject=due.task, id=due.run_id
    )


class DuePublisher:
    def __init__(self, bus: Bus, counters: Counters) -> None:
        self._bus = bus
        self._counters = counters

    async def __call__(self, due: TaskDue) -> None:
        await self._bus.publish(due_envelope(due))
        self._counters.inc("task_runs", outcome="started")
        if due.missed_count:
            self._counters.inc("task_runs", due.missed_count, outcome="missed")


def register(bus: Bus, scheduler: Scheduler, counters: Counters) -> None:
    async def task_reported(envelope: Envelope) -> None:
        report = envelope.payload(TaskReported)
        freed = await scheduler.finished(report.task, report.run_id)
        counters.inc("task_runs", outcome=report.status)
        log.info("%s run %s %s (lease freed: %s)", report.task, report.run_id, report.status, freed)

    bus.subscribe(REPORTED_TOPIC, task_reported)
