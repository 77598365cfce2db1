"""Scheduled-task reports for a human, from the audit records of `sre.task.reported.v1`.

The audit log is the system of record: the console shows what the planner reported, as recorded,
and never asks the scheduler or planner directly. A record whose payload does not fit the contract
is counted, not shown, so one bad message cannot hide the good ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from warden_contracts.events import TaskFinding, TaskReported

REPORTED_TYPE = "sre.task.reported.v1"
# Findings at these severities need someone to look; `ok` and `info` are the healthy rest.
NEEDS_ATTENTION = frozenset({"warning", "critical"})


@dataclass(frozen=True)
class ReportRow:
    seq: int
    task: str
    kind: str
    status: str
    summary: str
    scheduled_for: str
    reported_at: str
    attention: tuple[TaskFinding, ...]
    healthy: int
    missed: tuple[str, ...]
    missed_count: int
    proposals: tuple[str, ...]
    correlationid: str


@dataclass(frozen=True)
class ReportList:
    rows: tuple[ReportRow, ...]  # newest first
    unreadable: int


def _row(record: Mapping[str, Any], report: TaskReported) -> ReportRow:
    attention = tuple(f for f in report.findings if f.severity in NEEDS_ATTENTION)
    return ReportRow(
        seq=int(record.get("seq") or 0),
        task=report.task,
        kind=report.kind,
        status=report.status,
        summary=report.summary,
        scheduled_for=report.scheduled_for.isoformat(),
        reported_at=str(record.get("recorded_at", "")),
        attention=attention,
        healthy=len(report.findings) - len(attention),
        missed=tuple(m.isoformat() for m in report.missed),
        # A long outage lists only some missed slots; the count covers all of them.
        missed_count=max(report.missed_count, len(report.missed)),
        proposals=tuple(report.proposals),
        correlationid=str(record.get("correlationid") or ""),
    )


def task_reports(records: Iterable[Mapping[str, Any]]) -> ReportList:
    rows: list[ReportRow] = []
    unreadable = 0
    for record in records:
        if record.get("type") != REPORTED_TYPE:
            continue
        envelope = record.get("envelope")
        data = envelope.get("data") if isinstance(envelope, Mapping) else None
        try:
            report = TaskReported.model_validate(data)
        except ValidationError:
            unreadable += 1
            continue
        rows.append(_row(record, report))
    rows.sort(key=lambda r: r.seq, reverse=True)
    return ReportList(tuple(rows), unreadable)
