"""What happened to each incident, in times and flags, read from the audit records.

The audit log is the one place every message lands, so the KPIs, the shadow report and the
autonomy evidence are all computed from it. Times are the envelopes' own `time` (when the
producing service decided), not when audit wrote the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]

USEFUL_STATUSES = {"succeeded", "verified"}
FALSE_REMEDIATION_STATUSES = {"rolled_back"}
HUMAN_CHANNEL_OUTCOMES = {"approved", "denied"}
# A fix that needs the same incident again soon after did not fix it.
REOPEN_WINDOW = timedelta(hours=24)
_NEVER = datetime.max.replace(tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def record_time(record: Record) -> datetime | None:
    return parse_time(record.get("envelope", {}).get("time")) or parse_time(record.get("recorded_at"))


def data_of(record: Record) -> dict[str, Any]:
    return dict(record.get("envelope", {}).get("data", {}))


@dataclass
class IncidentFacts:
    incident_id: str
    service: str | None
    environment: str
    incident_class: str
    fingerprint: str = ""
    started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    first_useful_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    alerts: int = 0
    plans: list[str] = field(default_factory=list)  # response plans policy matched
    proposed_actions: int = 0
    executed_actions: int = 0
    verified_actions: int = 0
    rolled_back_actions: int = 0
    approvals_requested: int = 0
    approvals_denied: int = 0
    human_decisions: int = 0
    owner_takeover: bool = False
    escalations: list[datetime] = field(default_factory=list)
    shadowed: list[dict[str, Any]] = field(default_factory=list)  # PolicyDecided payloads
    human_actions: list[dict[str, Any]] = field(default_factory=list)  # ActionReported after a human approval
    reopened: bool = False
    action_started: dict[str, datetime] = field(default_factory=dict)

    def since_start(self, moment: datetime | None) -> float | None:
        if moment is None or self.started_at is None:
            return None
        return max(0.0, (moment - self.started_at).total_seconds())

    @property
    def human_involved(self) -> bool:
        return self.human_decisions > 0 or self.owner_takeover

    @property
    def autonomous(self) -> bool:
        """Fixed by the agent alone: a verified action, no human decision, no escalation."""
        return self.verified_actions > 0 and not self.human_involved and not self.escalations

    @property
    def false_remediation(self) -> bool:
        return self.executed_actions > 0 and (self.rolled_back_actions > 0 or self.reopened)

    @property
    def overridden(self) -> bool:
        return self.approvals_denied > 0 or self.owner_takeover

    def escalation_justified(self) -> bool | None:
        """An escalation was needed unless the agent then fixed the incident with no human help."""
        if not self.escalations:
            return None
        if self.human_involved:
            return True
        return not (self.mitigated_at and self.verified_actions and self.mitigated_at > self.escalations[0])


def _plan_of(reasons: Iterable[str]) -> str | None:
    for reason in reasons:
        if reason.startswith("response_plan:"):
            return reason.removeprefix("response_plan:").strip().split()[0]
    return None


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _apply(facts: IncidentFacts, record: Record, approved_actions: set[str]) -> None:
    kind, data, at = record["type"], data_of(record), record_time(record)
    if kind == "sre.alert.received.v1":
        facts.alerts += 1
        facts.started_at = _earliest(facts.started_at, parse_time(data.get("fired_at")))
    elif kind == "sre.incident.changed.v1":
        facts.fingerprint = data.get("fingerprint", facts.fingerprint)
        facts.started_at = _earliest(facts.started_at, parse_time(data.get("opened_at")))
        if data.get("change") == "resolved":
            facts.resolved_at = facts.resolved_at or at
            facts.mitigated_at = _earliest(facts.mitigated_at, at)
        elif facts.resolved_at is not None:
            facts.reopened = True
    elif kind == "sre.plan.proposed.v1":
        facts.acknowledged_at = _earliest(facts.acknowledged_at, at)
        facts.proposed_actions += len(data.get("actions", []))
    elif kind == "sre.escalation.raised.v1":
        facts.acknowledged_at = _earliest(facts.acknowledged_at, at)
        facts.first_useful_at = _earliest(facts.first_useful_at, at)
        if at:
            facts.escalations.append(at)
    elif kind == "sre.approval.requested.v1":
        facts.approvals_requested += 1
    elif kind == "sre.policy.decided.v1":
        _apply_decision(facts, data, approved_actions)
    elif kind == "sre.action.reported.v1":
        _apply_report(facts, data, at, approved_actions)
    elif kind == "sre.control.changed.v1" and data.get("kind") == "incident_owner":
        facts.owner_takeover = True
        facts.acknowledged_at = _earliest(facts.acknowledged_at, at)


def _apply_decision(facts: IncidentFacts, data: dict[str, Any], approved_actions: set[str]) -> None:
    plan = _plan_of(data.get("reasons", []))
    if plan and plan not in facts.plans:
        facts.plans.append(plan)
    outcome = data.get("outcome")
    if outcome == "shadowed":
        facts.shadowed.append(data)
    elif outcome in HUMAN_CHANNEL_OUTCOMES:
        facts.human_decisions += 1
        if outcome == "denied":
            facts.approvals_denied += 1
        else:
            approved_actions.add(str(data.get("action_id")))


def _apply_report(facts: IncidentFacts, data: dict[str, Any], at: datetime | None, approved: set[str]) -> None:
    status, action_id = data.get("status"), str(data.get("action_id"))
    if status == "started":
        facts.executed_actions += 1
        if at is not None:
            facts.action_started.setdefault(action_id, at)
        if action_id in approved:
            facts.human_actions.append(data)
    if status in USEFUL_STATUSES:
        # Useful from the moment it was started: the effect often shows before verification ends.
        facts.first_useful_at = _earliest(facts.first_useful_at, facts.action_started.get(action_id, at))
    if status == "verified":
        facts.verified_actions += 1
        facts.mitigated_at = _earliest(facts.mitigated_at, at)
    if status in FALSE_REMEDIATION_STATUSES:
        facts.rolled_back_actions += 1


def _records_by_incident(records: list[Record]) -> dict[str, list[Record]]:
    """Each incident's records in one pass over the log (an index, not a scan per incident): its own
    correlation id, the alerts it grouped, and incident-scoped controls (which travel under their own)."""
    by_incident: dict[str, list[Record]] = {}
    alert_owner: dict[str, str] = {}
    for record in records:
        if record["type"] == "sre.incident.changed.v1":
            data = data_of(record)
            by_incident.setdefault(data["incident_id"], [])
            alert_owner.update(dict.fromkeys(data.get("alert_ids", []), data["incident_id"]))
    for record in records:
        data = data_of(record)
        owner: str | None = record.get("correlationid")
        if owner not in by_incident:
            owner = None
            if record["type"] == "sre.alert.received.v1":
                owner = alert_owner.get(str(data.get("alert_id")))
            elif record["type"] == "sre.control.changed.v1" and str(data.get("scope", "")).startswith("incident:"):
                owner = str(data["scope"]).removeprefix("incident:")
        if owner in by_incident:
            by_incident[owner].append(record)
    return by_incident


def facts_of(incident_id: str, records: list[Record]) -> IncidentFacts:
    changes = [data_of(r) for r in records if r["type"] == "sre.incident.changed.v1"]
    last = changes[-1] if changes else {}
    facts = IncidentFacts(
        incident_id, last.get("service"), str(last.get("environment", "")), str(last.get("incident_class", ""))
    )
    approved: set[str] = set()
    for record in sorted(records, key=lambda r: r["seq"]):
        _apply(facts, record, approved)
    return facts


def incident_facts(records: Iterable[Record]) -> list[IncidentFacts]:
    """Facts for every incident in the records, oldest first; marks incidents that came back."""
    out = [facts_of(incident, rs) for incident, rs in _records_by_incident(list(records)).items()]
    out.sort(key=lambda f: f.started_at or _NEVER)
    last_resolved: dict[str, IncidentFacts] = {}
    for facts in out:
        key = facts.fingerprint or f"{facts.service}/{facts.incident_class}"
        earlier = last_resolved.get(key)
        if earlier and earlier.resolved_at and facts.started_at:
            earlier.reopened |= timedelta(0) <= facts.started_at - earlier.resolved_at < REOPEN_WINDOW
        last_resolved[key] = facts
    return out
