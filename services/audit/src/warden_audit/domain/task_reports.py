"""The scheduled tasks' reports (health checks, cost reports, certificate sweeps) as recorded:
`warden tasks` reads them here, since the audit log is where every report lands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from warden_audit.domain.incident_facts import Record, data_of

TASK_REPORTED = "sre.task.reported.v1"


def task_reports(records: Iterable[Record], task: str | None = None) -> list[dict[str, Any]]:
    """`TaskReported` payloads, oldest first, of one task or all."""
    return [
        data_of(r) for r in records if r["type"] == TASK_REPORTED and (task is None or data_of(r).get("task") == task)
    ]
