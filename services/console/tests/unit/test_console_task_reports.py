"""Scheduled-task reports from audit records: newest first, what needs attention, missed runs, and
records that do not fit the contract counted rather than shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden_console.domain.task_reports import task_reports

SLOT = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def record(seq: int, data: dict, type_: str = "sre.task.reported.v1") -> dict:
    return {
        "seq": seq,
        "type": type_,
        "recorded_at": "2026-11-21T06:00:03Z",
        "correlationid": f"c{seq}",
        "envelope": {"type": type_, "data": data},
    }


def report(task: str, **extra: object) -> dict:
    return {
        "task": task,
        "run_id": f"r-{task}",
        "kind": "health_check",
        "status": "completed",
        "summary": "ok",
        "scheduled_for": SLOT.isoformat(),
    } | extra


def test_rows_newest_first_with_attention_and_missed_runs() -> None:
    findings = [
        {"subject": "api", "severity": "critical", "summary": "down"},
        {"subject": "db", "severity": "info", "summary": "fine"},
        {"subject": "web", "severity": "ok", "summary": "fine"},
    ]
    listed = task_reports(
        [
            record(
                3, report("daily", findings=findings, missed=[(SLOT - timedelta(days=1)).isoformat()], missed_count=4)
            ),
            record(7, report("weekly", status="failed")),
            record(5, {"decision": "approve"}, type_="sre.approval.decided.v1"),
            record(9, {"task": "no-fields"}),
        ]
    )
    assert [r.task for r in listed.rows] == ["weekly", "daily"] and listed.unreadable == 1
    daily = listed.rows[1]
    assert [(f.subject, f.severity) for f in daily.attention] == [("api", "critical")] and daily.healthy == 2
    assert daily.missed == ("2026-11-20T06:00:00+00:00",) and daily.missed_count == 4
    assert (daily.seq, daily.reported_at, daily.scheduled_for) == (3, "2026-11-21T06:00:03Z", SLOT.isoformat())


def test_missed_count_never_below_the_listed_slots() -> None:
    slots = [(SLOT - timedelta(hours=h)).isoformat() for h in (1, 2)]
    [row] = task_reports([record(1, report("hourly", missed=slots))]).rows
    assert row.missed_count == 2
