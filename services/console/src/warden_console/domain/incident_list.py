"""The incident list: one row per incident, newest first, rebuilt from the audit records of the
message types that move an incident along (the audit log is the system of record)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from warden_console.domain.plan_findings import injection_warnings, recovery
from warden_console.domain.timeline import incident_status

Record = Mapping[str, Any]
# Everything incident_status, recovery and injection_warnings read.
TYPES = (
    "sre.incident.changed.v1",
    "sre.plan.proposed.v1",
    "sre.approval.requested.v1",
    "sre.policy.decided.v1",
    "sre.action.reported.v1",
    "sre.escalation.raised.v1",
)
MAX_ROWS = 100


@dataclass(frozen=True)
class IncidentRow:
    incident_id: str
    opened_at: str
    service: str
    environment: str
    severity: str
    incident_class: str
    status: str
    recovered: str  # the planner's note when it found the symptom gone, else ""
    injection_findings: int


def _data(record: Record) -> Mapping[str, Any]:
    envelope = record.get("envelope") or {}
    data = envelope.get("data") if isinstance(envelope, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def incident_rows(records: Iterable[Record], limit: int = MAX_ROWS) -> list[IncidentRow]:
    by_incident: dict[str, list[Record]] = {}
    for record in records:
        by_incident.setdefault(str(record.get("correlationid")), []).append(record)
    rows: list[IncidentRow] = []
    for incident_id, group in by_incident.items():
        changes = sorted(
            (r for r in group if r.get("type") == "sre.incident.changed.v1"), key=lambda r: int(r.get("seq", 0))
        )
        if not changes:
            continue  # not an incident (a scheduled task, a control change)
        latest, first = _data(changes[-1]), _data(changes[0])
        found = recovery(group)
        rows.append(
            IncidentRow(
                incident_id=incident_id,
                opened_at=str(first.get("opened_at") or changes[0].get("recorded_at") or ""),
                service=str(latest.get("service") or latest.get("root_service") or ""),
                environment=str(latest.get("environment") or ""),
                severity=str(latest.get("severity") or ""),
                incident_class=str(latest.get("incident_class") or ""),
                status=incident_status(group),
                recovered=found.note if found else "",
                injection_findings=len(injection_warnings(group)),
            )
        )
    return sorted(rows, key=lambda r: r.opened_at, reverse=True)[:limit]
