"""The scheduler service on a real NATS server: due runs published, one at a time per task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import follow_up
from warden_contracts.events import TaskDue, TaskReported
from warden_scheduler.app import SchedulerPorts, create_app
from warden_testkit.bus import EmbeddedBroker, eventually

TASKS = """
tasks:
  - name: every-second-health
    cron: "* * * * * */1"
    kind: health_check
  - name: disabled-report
    cron: "* * * * * */1"
    kind: cost_report
    enabled: false
"""


@pytest.fixture
async def scheduler(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(TASKS)
    runtime = create_app(
        ports=SchedulerPorts(bus=broker.bus("scheduler")),
        nats_creds=broker.creds("scheduler"),
        data_dir=tmp_path,
        scheduler_tasks_file=tasks,
        scheduler_tick_s=0.2,
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


async def test_due_runs_wait_for_the_report_of_the_previous_one(
    broker: EmbeddedBroker, scheduler: ServiceRuntime
) -> None:
    [first] = await broker.wait_for("sre.task.due.v1", timeout=30)
    due = first.payload(TaskDue)
    assert due.task == "every-second-health" and due.kind == "health_check"
    assert first.id == due.run_id and first.correlationid == f"task:{due.task}:{due.run_id}"
    # The run is still open: later ticks find the task held and start nothing.
    counters = scheduler.counters.values
    await eventually(lambda: counters.get("task_runs_held", 0) >= 3, timeout=30)
    # A missed run needs two scheduled seconds after the first to pass while it is held (the
    # first is the next run itself); waited for on the clock, not left to how slow the reads are.
    await eventually(lambda: datetime.now(UTC) > due.scheduled_for + timedelta(seconds=2.2), timeout=30)
    assert len(await broker.read_all("sre.task.due.v1")) == 1

    planner = broker.bus("planner")
    await planner.start()
    try:
        report = TaskReported(
            task=due.task,
            run_id=due.run_id,
            kind=due.kind,
            status="completed",
            summary="ok",
            scheduled_for=due.scheduled_for,
        )
        await planner.publish(follow_up(first, "sre.task.reported.v1", report, source="warden/planner"))
    finally:
        await planner.stop()
    found = await broker.wait_for("sre.task.due.v1", count=2, timeout=30)
    second = found[1].payload(TaskDue)
    # The seconds that passed while the first run held the task are reported, not replayed.
    assert second.missed_count >= 1 and len(second.missed) == second.missed_count
    assert all(due.scheduled_for < m < second.scheduled_for for m in second.missed)
    assert {e.payload(TaskDue).task for e in found} == {"every-second-health"}


async def test_health_and_task_listing(scheduler: ServiceRuntime) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{scheduler.bound_port}/v1/tasks") as resp:
            body = await resp.json()
        async with http.get(f"http://127.0.0.1:{scheduler.bound_port}/healthz") as resp:
            assert resp.status == 200
    assert [t["name"] for t in body["tasks"]] == ["every-second-health"]
