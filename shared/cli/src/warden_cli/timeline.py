"""Per-incident views and readable timelines, rebuilt from the audit log alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


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
    records: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, topic: str) -> list[dict[str, Any]]:
        return [r["envelope"]["data"] for r in self.records if r["type"] == topic]

    def reports(self, status: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.of_type("sre.action.reported.v1") if status is None or d["status"] == status]

    def pending_approvals(self) -> list[dict[str, Any]]:
        decided = {
            d.get("approval_id")
            for d in self.of_type("sre.policy.decided.v1")
            if d.get("outcome") in {"approved", "denied", "expired", "superseded"}
        }
        return [d for d in self.of_type("sre.approval.requested.v1") if d["approval_id"] not in decided]


def _data(record: dict[str, Any]) -> dict[str, Any]:
    return record["envelope"].get("data", {})


def incidents_from(records: Iterable[dict[str, Any]]) -> dict[str, IncidentView]:
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


def _plan(d: dict[str, Any]) -> str:
    actions = ", ".join(f"{a['kind']}({a['params']}) conf {a['confidence']}" for a in d.get("actions", []))
    evidence = len(d.get("evidence", []))
    return f"planner    {d['runbook']}: {d['summary']} | evidence {evidence} | proposes {actions or 'nothing'}"


def _decision(d: dict[str, Any]) -> str:
    approvers = f" approvers {d['approvers']}" if d.get("approvers") else ""
    reasons = "; ".join(d.get("reasons", []))
    return f"policy     {d['kind']} tier {d['tier']} {d['run_mode']} -> {d['outcome'].upper()} ({reasons}){approvers}"


def _clock_time(value: Any) -> str:
    text = str(value or "")
    return text[11:19] + "Z" if len(text) >= 19 else text or "?"


def _elevation(d: dict[str, Any]) -> str:
    """Activation shows what woke the executor (the doorbell) and when the grant dies on its own."""
    why = str(d.get("justification") or "")
    state, who, expires = d["state"], d["principal"], _clock_time(d.get("expires_at"))
    if state == "activated":
        cause = f"doorbell {why.removesuffix(' (doorbell)')}" if why.endswith("(doorbell)") else why
        scope = f" on {', '.join(d['scope'])}" if d.get("scope") else ""
        return f"elevation  ACTIVATED for {who}{scope}, expires {expires} ({cause})"
    if state == "deactivated":
        how = f"expired at {expires}" if why == "expired" else f"released before its expiry at {expires}"
        return f"elevation  DEACTIVATED for {who} ({how})"
    return f"elevation  {state} for {who} ({why})"


_LINES: dict[str, Any] = {
    "sre.alert.received.v1": lambda d: (
        f"alert      {d['status']} '{d['rule']}' on {d.get('service')} ({d.get('severity')}, {d['source_kind']})"
    ),
    "sre.incident.changed.v1": lambda d: (
        f"triage     incident {d['change']}: {d['incident_class']} on {d.get('service')} ({d['alert_count']} alert(s))"
    ),
    "sre.plan.proposed.v1": _plan,
    "sre.policy.decided.v1": _decision,
    "sre.approval.requested.v1": lambda d: (
        f"approval   requested {d['approval_id']} for {d['action']['kind']} tier {d['tier']}, expires {d['expires_at']}"
    ),
    "sre.approval.decided.v1": lambda d: f"approval   {d['decision']} via {d.get('channel')} ({d.get('reason', '')})",
    "sre.action.reported.v1": lambda d: (
        f"executor   {d['kind']} on {d['target']}: {d['status'].upper()} {d.get('detail', '')}".rstrip()
    ),
    "sre.elevation.changed.v1": lambda d: _elevation(d),
    "sre.escalation.raised.v1": lambda d: f"ESCALATION {d['priority']}: {d['reason']}",
    "sre.deadletter.v1": lambda d: f"deadletter {d['service']}: {d['reason']}",
    "sre.control.changed.v1": lambda d: f"control    {d['kind']} = {d['value']} by {d['changed_by']}",
}


def describe(record: dict[str, Any]) -> str:
    line = _LINES.get(record["type"])
    return str(line(_data(record))) if line else str(record["type"])


def render(view: IncidentView) -> str:
    where = f"{view.incident_class} on {view.service} [{view.environment}]"
    head = f"Incident {view.incident_id}  {where}  state: {view.state}"
    lines = [head, "-" * len(head)]
    for r in sorted(view.records, key=lambda r: r["seq"]):
        lines.append(f"  #{r['seq']:<5} {str(r['envelope'].get('time', ''))[11:23]}  {describe(r)}")
    if view.recovered:
        lines.append(f"  recovered: {view.recovered}")
    lines.extend(_notes(view))
    return "\n".join(lines)


def _notes(view: IncidentView) -> list[str]:
    """Triage's latest notes on the incident (e.g. the warden.yaml snippet of an unmapped resource)."""
    changes = [r for r in view.records if r["type"] == "sre.incident.changed.v1"]
    latest = max(changes, key=lambda r: r["seq"], default=None)
    notes = _data(latest).get("notes") if latest else None
    out: list[str] = []
    for note in notes or []:
        out.extend(f"  note: {line}" if i == 0 else f"        {line}" for i, line in enumerate(note.splitlines()))
    return out


def incident_json(view: IncidentView, *, timeline: bool = False) -> dict[str, Any]:
    """One incident for `warden incidents --json`; the keys are documented in docs/cli.md."""
    ordered = sorted(view.records, key=lambda r: r["seq"])
    out: dict[str, Any] = {
        "incident_id": view.incident_id,
        "state": view.state,
        "incident_class": view.incident_class,
        "service": view.service,
        "environment": view.environment,
        "recovered": view.recovered or None,
        "alerts": len(view.alert_ids),
        "actions": len(view.action_ids),
        "pending_approvals": [d["approval_id"] for d in view.pending_approvals()],
        "first_seen": ordered[0]["envelope"].get("time") if ordered else None,
        "last_seen": ordered[-1]["envelope"].get("time") if ordered else None,
        "records": len(ordered),
    }
    if timeline:
        out["timeline"] = [
            {"seq": r["seq"], "time": r["envelope"].get("time"), "type": r["type"], "text": describe(r)}
            for r in ordered
        ]
    return out


def incidents_json(views: Iterable[IncidentView], *, timeline: bool = False) -> dict[str, Any]:
    found = [incident_json(v, timeline=timeline) for v in views]
    return {"incidents": found, "count": len(found)}
