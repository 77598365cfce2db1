"""What happened in one scenario, rebuilt from the audit log (the system of record) alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PLAN = "sre.plan.proposed.v1"
INCIDENT = "sre.incident.changed.v1"
REPORTED = "sre.action.reported.v1"
ESCALATION = "sre.escalation.raised.v1"
DECIDED = "sre.policy.decided.v1"
APPROVAL = "sre.approval.requested.v1"
# The executor touched the target: everything but refusals before acting.
EXECUTED = frozenset({"started", "succeeded", "verified", "failed", "rolled_back"})
TERMINAL = frozenset({"verified", "rolled_back", "failed"})
CLOSED_APPROVALS = frozenset({"approved", "denied", "expired", "superseded"})


def record_time(record: dict[str, Any]) -> datetime | None:
    raw = record.get("envelope", {}).get("time")
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


@dataclass
class Observed:
    """The records since the scenario started, with the incident under test picked out."""

    service: str
    incident_class: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def since(cls, records: list[dict[str, Any]], start: datetime, service: str, incident_class: str) -> Observed:
        recent = [r for r in records if (t := record_time(r)) is not None and t >= start]
        return cls(service, incident_class, recent)

    def data(self, topic: str, incident_id: str | None = None) -> list[dict[str, Any]]:
        found = [r["envelope"].get("data", {}) for r in self.records if r.get("type") == topic]
        return [d for d in found if incident_id is None or d.get("incident_id") == incident_id]

    def timed(self, topic: str) -> list[tuple[datetime, dict[str, Any]]]:
        out = []
        for r in self.records:
            at = record_time(r)
            if r.get("type") == topic and at is not None:
                out.append((at, r["envelope"].get("data", {})))
        return out

    def incidents(self) -> list[dict[str, Any]]:
        """The first change seen per incident on the scenario's service, oldest first."""
        seen: dict[str, dict[str, Any]] = {}
        for d in self.data(INCIDENT):
            if d.get("service") == self.service:
                seen.setdefault(d["incident_id"], d)
        return list(seen.values())

    def under_test(self) -> dict[str, Any] | None:
        """The scenario's incident of the expected class only (`primary` falls back to any)."""
        return next((d for d in self.incidents() if d.get("incident_class") == self.incident_class), None)

    def gated(self, incident_id: str) -> bool:
        """Policy decided on the incident's plan, or it ended without one (handoff, empty plan)."""
        return bool(self.data(DECIDED, incident_id)) or self.terminal(incident_id)

    def primary(self) -> dict[str, Any] | None:
        found = self.incidents()
        matching = [d for d in found if d.get("incident_class") == self.incident_class]
        candidates = matching or found
        return candidates[0] if candidates else None

    def executed(self) -> list[dict[str, Any]]:
        """One entry per action the executor touched (any incident), with every status seen."""
        actions: dict[str, dict[str, Any]] = {}
        for d in self.data(REPORTED):
            if d.get("status") in EXECUTED:
                entry = actions.setdefault(d["action_id"], {**d, "statuses": []})
                entry["statuses"].append(d["status"])
        return list(actions.values())

    def pending_approvals(self) -> list[dict[str, Any]]:
        closed = {d.get("approval_id") for d in self.data(DECIDED) if d.get("outcome") in CLOSED_APPROVALS}
        return [d for d in self.data(APPROVAL) if d["approval_id"] not in closed]

    def runbook(self, incident_id: str) -> str | None:
        """The runbook the planner used for the incident: its first plan, else its own handoff."""
        for d in self.data(PLAN, incident_id):
            return str(d.get("runbook", ""))
        for d in self.data(ESCALATION, incident_id):
            if d.get("runbook"):
                return str(d["runbook"])
        return None

    def terminal(self, incident_id: str) -> bool:
        """Something ended the story for now: a handoff, a final report, a denial, a plan of nothing."""
        if self.data(ESCALATION, incident_id) or any(not d.get("actions") for d in self.data(PLAN, incident_id)):
            return True
        if any(d.get("status") in TERMINAL for d in self.data(REPORTED, incident_id)):
            return True
        return any(d.get("outcome") == "denied" for d in self.data(DECIDED, incident_id))
