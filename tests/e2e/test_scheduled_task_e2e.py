"""A scheduled health check in the embedded stack: the scheduler hands the run to the planner, the
planner sweeps the sandbox estate and reports, both land in the audit log, and the report shows on
the console's scheduled-reports page for a signed-in viewer."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_audit.reader import read_records
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_testkit.console import Browser, wait_for, write_test_users

pytestmark = pytest.mark.e2e

TASKS = """
tasks:
  - name: health-every-5s
    cron: "* * * * * */5"
    kind: health_check
"""


async def test_scheduled_health_check_report_is_audited_and_shown_in_the_console(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(TASKS)
    layout = Layout(tmp_path / "stack")
    write_test_users(layout.keys / "console-users.yaml")
    stack = EmbeddedStack(layout, StackOptions(tick_s=1.0, scheduler_tasks_file=tasks))
    reports: list[dict] = []
    try:
        await stack.start()
        deadline = time.monotonic() + 90
        # A run on a loaded machine may time out reading the estate: that run reports `failed` (with
        # why) and the next one, five seconds later, tries again. Wait for a completed one.
        while not reports and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            reports = [
                r
                for r in read_records(layout.audit_dir)
                if r["type"] == "sre.task.reported.v1" and r["envelope"]["data"]["status"] == "completed"
            ]
        if reports:
            row = await _console_row(stack, reports[0]["seq"])
            assert "health-every-5s" in row and "health_check" in row and "completed" in row, row
            findings = reports[0]["envelope"]["data"]["findings"]
            attention = [f for f in findings if f["severity"] in ("warning", "critical")]
            assert all(f"{f['subject']}: " in row for f in attention), row
            healthy = len(findings) - len(attention)
            assert (f"{healthy} healthy" in row) == (healthy > 0), row
    finally:
        await stack.stop()
    everything = [r["envelope"]["data"] for r in read_records(layout.audit_dir) if r["type"] == "sre.task.reported.v1"]
    assert reports, f"no completed scheduled report reached the audit log: {[r['summary'] for r in everything]}"
    assert all(r["summary"] for r in everything)
    report = reports[0]["envelope"]["data"]
    assert report["task"] == "health-every-5s"
    subjects = {f["subject"] for f in report["findings"]}
    assert {"checkout-api", "payments-api"} <= subjects
    dues = [r for r in read_records(layout.audit_dir) if r["type"] == "sre.task.due.v1"]
    assert any(d["envelope"]["id"] == reports[0]["envelope"]["causationid"] for d in dues)
    shown = CliRunner().invoke(app, ["tasks", "health-every-5s", "--data-dir", str(layout.root)])
    assert shown.exit_code == 0 and "health-every-5s  completed: health check over" in shown.output, shown.output


async def _console_row(stack: EmbeddedStack, seq: int) -> str:
    """The console (its own process) reads the report through the audit query API; carol is a viewer."""
    carol = Browser(stack.console_url)
    try:
        await carol.sign_in("carol")
        row = re.compile(rf'<tr id="report-{seq}" data-task="[^"]*">(.*?)</tr>', re.S)

        async def shown() -> str:
            status, page = await carol.get("/reports")
            found = row.search(page) if status == 200 else None
            return found.group(1) if found else ""

        return str(await wait_for(shown, timeout=60))
    finally:
        await carol.close()
