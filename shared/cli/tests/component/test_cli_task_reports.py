"""`warden tasks`: scheduled reports read back from the audit log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner
from warden_cli.main import app
from warden_contracts.events import TaskFinding, TaskReported
from warden_testkit.audit_story import AuditStory

AT = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def test_tasks_lists_reports_with_what_needs_attention(tmp_path: Path) -> None:
    async def write() -> None:
        async with AuditStory(tmp_path / "audit") as story:
            for task, status in (("daily-health-report", "completed"), ("weekly-cert-renewal", "failed")):
                report = TaskReported(
                    task=task,
                    run_id=f"run-{task}",
                    kind="health_check",
                    status=status,
                    summary=f"{task} summary",
                    scheduled_for=AT,
                    findings=[
                        TaskFinding(subject="checkout-api", severity="warning", summary="memory_pct 91 over 85"),
                        TaskFinding(subject="search-api", severity="ok", summary="healthy"),
                    ],
                    proposals=["plan-1"] if status == "completed" else [],
                    missed_count=2,
                )
                await story.write("sre.task.reported.v1", report, f"task:{task}", AT, source="warden/planner")

    asyncio.run(write())
    runner = CliRunner()
    text = runner.invoke(app, ["tasks", "--data-dir", str(tmp_path)])
    assert text.exit_code == 0, text.output
    assert "2026-11-21T06:00:00  daily-health-report  completed: daily-health-report summary" in text.output
    assert "warning  checkout-api: memory_pct 91 over 85" in text.output
    assert "search-api" not in text.output  # healthy findings are not repeated
    assert "proposed plan plan-1 (through the policy gate)" in text.output
    one = runner.invoke(app, ["tasks", "weekly-cert-renewal", "--json", "--data-dir", str(tmp_path)])
    [report] = json.loads(one.output)
    assert report["status"] == "failed" and report["missed_count"] == 2
    (tmp_path / "none").mkdir()
    empty = runner.invoke(app, ["tasks", "--data-dir", str(tmp_path / "none")])
    assert "no scheduled task reports" in empty.output
