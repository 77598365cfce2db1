"""Per-incident views rebuilt from the audit log alone: which records belong to an incident and
the state they add up to (`warden incidents`, the timeline, `warden audit export INCIDENT`).

A record belongs to an incident when it carries the incident's correlation id, when it is an alert
the incident grouped, or when it is an elevation whose justification names one of its actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
FINAL_DECISIONS = {"approved", "denied", "expired", "superseded"}


@dataclass
class IncidentView:
    incident_id: str
    service: str | None = None
    incident_class: str = ""
    environment: str = ""
    state: str = "opened"
    # The planner's note when its latest plan found the symptom gone ("recovered"); kept after resolution.
    recovered: str = ""
    alert_ids: set[str] = field(default_factory=set)
    action_ids: set[str] = field(default_factory=set)
    records: list[Record] = field(default_factory=list)

    def of_type(self, topic: str) -> list[dict[str, Any]]:
        return [r["envelope"]["data"] for r in self.records if r["type"] == topic]

    def reports(self, status: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.of_type("sre.action.reported.v1") if status is None or d["status"] == status]

    def pending_approvals(self) -> list[dict[str, Any]]:
        decided = {
            d.get("approval_id") for d in self.of_type("sre.policy.decided.v1") if d.get("outcome") in FINAL_DECISIONS
        }
        return [d for d in self.of_type("sre.approval.requested.v1") if d["approval_id"] not in decided]

    def ordered(self) -> list[Record]:
        return sorted(self.records, key=lambda r: r["seq"])

    def latest_notes(self) -> list[str]:
        """Triage's latest notes on the incident (e.g. the warden.yaml snippet of an unmapped resource)."""
        changes = [r for r in self.records if r["type"] == "sre.incident.changed.v1"]
        latest = max(changes, key=lambda r: r["seq"], default=None)
        notes = _data(latest).get("notes") if latest else None
        return [str(note) for note in notes or []]


def _data(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = record["envelope"].get("data", {})
    return data


def incidents_from(records: Iterable[Record]) -> dict[str, IncidentView]:
    records = list(records)
    views: dict[str, IncidentView] = {}
    for r in records:
        if r["type"] == "sre.incident.changed.v1":
            d = _data(r)
            view = views.setdefault(d["incident_id"], IncidentView(d["incident_id"]))
            view.service, view.incident_class, view.environment = (
                d.get("service"),
                d["incident_class"],
                d["environment"],
            )
            view.state = (
                d["change"] if d["change"] == "resolved" else ("open" if view.state != "resolved" else view.state)
            )
            view.alert_ids |= set(d.get("alert_ids", []))
    for r in records:
        d = _data(r)
        if r["correlationid"] in views:
            view = views[r["correlationid"]]
            if "action_id" in d:
                view.action_ids.add(d["action_id"])
            for action in d.get("actions", []) + ([d["action"]] if isinstance(d.get("action"), dict) else []):
                view.action_ids.add(action["action_id"])
    for r in records:
        d = _data(r)
        for view in views.values():
            if (
                r["correlationid"] == view.incident_id
                or (r["type"] == "sre.alert.received.v1" and d.get("alert_id") in view.alert_ids)
                or (
                    r["type"] == "sre.elevation.changed.v1"
                    and any(a in d.get("justification", "") for a in view.action_ids)
                )
            ):
                view.records.append(r)
    for view in views.values():
        _recovery(view)
    return views


def _recovery(view: IncidentView) -> None:
    """An open incident whose latest word is a "recovered" plan is `recovered`: nothing to do, waiting
    for the monitor's Resolved. A later plan with actions or a handoff takes that state away again."""
    for r in sorted(view.records, key=lambda r: r["seq"]):
        d = _data(r)
        if r["type"] == "sre.plan.proposed.v1":
            view.recovered = str(d.get("summary") or "recovered") if d.get("outcome") == "recovered" else ""
        elif r["type"] == "sre.escalation.raised.v1" and view.state != "resolved":
            view.recovered = ""
    if view.recovered and view.state != "resolved":
        view.state = "recovered"
