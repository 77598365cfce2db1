"""Readable timelines and the `--json` shape of incidents; the views themselves are audit's read
model (`warden_audit.api.incidents`), re-exported here for the tools that import them from the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from warden_audit.api import IncidentView, incidents_from

__all__ = ["IncidentView", "describe", "incident_json", "incidents_from", "incidents_json", "render"]


def _data(record: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = record["envelope"].get("data", {})
    return data


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
    for r in view.ordered():
        lines.append(f"  #{r['seq']:<5} {str(r['envelope'].get('time', ''))[11:23]}  {describe(r)}")
    if view.recovered:
        lines.append(f"  recovered: {view.recovered}")
    for note in view.latest_notes():
        lines.extend(f"  note: {line}" if i == 0 else f"        {line}" for i, line in enumerate(note.splitlines()))
    return "\n".join(lines)


def incident_json(view: IncidentView, *, timeline: bool = False) -> dict[str, Any]:
    """One incident for `warden incidents --json`; the keys are documented in docs/cli.md."""
    ordered = view.ordered()
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
