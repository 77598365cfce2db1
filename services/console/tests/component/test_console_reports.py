"""The scheduled-reports page: task reports recorded in the audit log, shown to any signed-in role,
read from the local log and through the audit service's query API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warden_audit.app import create_app as create_audit
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import TaskFinding, TaskReported
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.console import Browser, append_audit_records, start_console, wait_for

SLOT = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def reported(task: str, run_id: str, **fields: object) -> Envelope:
    payload = TaskReported.model_validate(
        {
            "task": task,
            "run_id": run_id,
            "kind": "health_check",
            "status": "completed",
            "summary": f"{task}: health check over 2 services",
            "scheduled_for": SLOT,
        }
        | fields
    )
    return envelope_for("sre.task.reported.v1", payload, source="warden/planner", correlationid=run_id)


def _row(page: str, task: str) -> str:
    found = re.search(rf'<tr id="report-\d+" data-task="{re.escape(task)}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {task}"
    return found.group(1)


async def test_viewer_sees_latest_reports_with_findings_and_missed_runs(console, browser_for) -> None:
    health = reported(
        "daily-health",
        "run-health",
        findings=[
            TaskFinding(subject="payments-api", severity="critical", summary="error rate 12%"),
            TaskFinding(subject="checkout-api", severity="warning", summary="p95 latency 900 ms"),
            TaskFinding(subject="web-frontend", severity="ok", summary="healthy"),
        ],
        missed=[SLOT - timedelta(days=2), SLOT - timedelta(days=1)],
        missed_count=2,
        proposals=["plan-7"],
    )
    cost = reported("weekly-cost", "run-cost", kind="cost_report", status="failed", summary="cost API timed out")
    # A report missing its required fields (recorded as received, whatever the sender put in it).
    raw = health.model_copy(update={"id": "broken-1", "data": {"task": "half-a-report"}})
    append_audit_records(console.data_dir / "audit", [health, cost, raw])

    carol = browser_for()  # a viewer: reading reports needs no more
    await carol.sign_in("carol")
    status, page = await carol.get("/reports")
    assert status == 200 and 'href="/reports" aria-current="page">Scheduled reports' in page

    row = _row(page, "daily-health")
    for shown in (
        "health_check",
        "completed",
        "scheduled 2026-11-21T06:00:00+00:00",
        "audit #1",
        "critical</span> payments-api: error rate 12%",
        "warning</span> checkout-api: p95 latency 900 ms",
        "1 healthy",
        "plan-7",
        "2 missed",
        "2026-11-19T06:00:00+00:00, 2026-11-20T06:00:00+00:00",
    ):
        assert shown in row, shown
    assert "web-frontend" not in row  # healthy findings are counted, not listed
    cost_row = _row(page, "weekly-cost")
    assert "cost_report" in cost_row and "failed" in cost_row and "cost API timed out" in cost_row
    assert page.index('data-task="weekly-cost"') < page.index('data-task="daily-health"')  # newest first
    assert "half-a-report" not in page and "1 recorded report(s) did not match" in page


async def test_reports_need_sign_in(console, browser_for) -> None:
    stranger = browser_for()
    status, page = await stranger.get("/reports")
    assert status == 200 and 'name="next" value="/reports"' in page and 'id="reports"' not in page
    status, _ = await stranger.get("/reports", allow_redirects=False)
    assert status == 302


async def test_reports_read_through_the_audit_query_api(broker: EmbeddedBroker, tmp_path: Path) -> None:
    audit = create_audit(nats_url=broker.url, nats_creds=broker.creds("audit"), data_dir=tmp_path, http_port=0)
    await audit.start()
    console = await start_console(broker, tmp_path / "console", audit_url=f"http://127.0.0.1:{audit.bound_port}")
    planner = broker.bus("planner")
    await planner.start()
    bob = Browser(console.url)
    try:
        await bob.sign_in("bob")
        status, page = await bob.get("/reports")
        assert status == 200 and "No scheduled task has reported yet." in page
        await planner.publish(
            reported(
                "hourly-health",
                "run-api",
                findings=[TaskFinding(subject="orders-worker", severity="warning", summary="queue depth 5000")],
            )
        )

        async def shown() -> bool:
            return "warning</span> orders-worker: queue depth 5000" in (await bob.get("/reports"))[1]

        await wait_for(shown, timeout=30)
    finally:
        await bob.close()
        await planner.stop()
        await console.runtime.stop()
        await audit.stop()
