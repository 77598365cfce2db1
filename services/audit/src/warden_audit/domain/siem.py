"""The SIEM view of a record: actor, operation, object, result, time, severity.

Values follow Microsoft Sentinel's ASIM audit-event schema (`EventResult` Success / Failure /
Partial / NA, `EventSeverity` Informational / Low / Medium / High) and carry the OCSF
`severity_id` (1 informational .. 5 critical) and class (6003 API Activity), so either side can map
them without a lookup table; `ocsf` is the whole record as an OCSF API Activity event
(`ocsf.ocsf_event`). docs/siem.md lists the field mapping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from functools import cache
from importlib import metadata
from typing import Any

from warden_audit.domain.ocsf import ocsf_event

OCSF_CLASS_API_ACTIVITY = 6003
SEVERITY_ID = {"Informational": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
_INCIDENT_SEVERITY = {"Sev0": "Critical", "Sev1": "High", "Sev2": "Medium", "Sev3": "Low", "Sev4": "Informational"}

View = dict[str, Any]


def _obj(kind: str, ident: Any, name: Any = None, **more: Any) -> dict[str, Any]:
    found = {"type": kind, "id": None if ident is None else str(ident), "name": name, **more}
    return {k: v for k, v in found.items() if v is not None}


def _alert(d: Mapping[str, Any]) -> View:
    return {
        "operation": f"alert.{str(d.get('status', 'received')).lower()}",
        "object": _obj("alert", d.get("alert_id"), d.get("rule"), resource=d.get("resource_id")),
        "severity": _INCIDENT_SEVERITY.get(str(d.get("severity")), "Low"),
    }


def _incident(d: Mapping[str, Any]) -> View:
    return {
        "operation": f"incident.{d.get('change', 'changed')}",
        "object": _obj("incident", d.get("incident_id"), d.get("title"), resource=d.get("resource_id")),
        "severity": _INCIDENT_SEVERITY.get(str(d.get("severity")), "Low"),
    }


def _plan(d: Mapping[str, Any]) -> View:
    return {"operation": "plan.proposed", "object": _obj("plan", d.get("plan_id"), d.get("runbook"))}


def _approval_requested(d: Mapping[str, Any]) -> View:
    action = d.get("action") or {}
    return {
        "operation": "approval.requested",
        "object": _obj("approval", d.get("approval_id"), action.get("target"), action=action.get("kind")),
        "result_detail": "pending",
        "severity": "Medium" if int(d.get("tier", 0)) >= 2 else "Low",
    }


def _approval_decided(d: Mapping[str, Any]) -> View:
    return {
        "operation": f"approval.{d.get('decision', 'decided')}",
        "object": _obj("approval", d.get("approval_id")),
        "result": "Success",
        "result_detail": d.get("decision"),
        "severity": "Medium",
    }


_POLICY_RESULT = {"execute": "Success", "approved": "Success", "await_approval": "NA", "shadowed": "NA"}


def _policy(d: Mapping[str, Any]) -> View:
    outcome = str(d.get("outcome", ""))
    return {
        "operation": f"policy.{outcome or 'decided'}",
        "object": _obj("action", d.get("action_id"), d.get("target"), action=d.get("kind")),
        "result": _POLICY_RESULT.get(outcome, "Failure"),
        "result_detail": outcome,
        "severity": "Medium" if outcome in {"refused", "rejected_approval", "handoff"} else "Low",
    }


_REPORT = {
    "succeeded": ("Success", "Medium"),
    "verified": ("Success", "Medium"),
    "rolled_back": ("Partial", "High"),
    "failed": ("Failure", "High"),
    "rejected": ("Failure", "High"),
}


def _report(d: Mapping[str, Any]) -> View:
    status = str(d.get("status", ""))
    result, severity = _REPORT.get(status, ("NA", "Low"))
    return {
        "operation": f"action.{status or 'reported'}",
        "object": _obj("action", d.get("action_id"), d.get("target"), action=d.get("kind")),
        "result": result,
        "result_detail": status,
        "severity": severity,
    }


def _escalation(d: Mapping[str, Any]) -> View:
    return {
        "operation": "escalation.raised",
        "object": _obj("incident", d.get("incident_id")),
        "result_detail": d.get("priority"),
        "severity": "High" if d.get("priority", "P1") == "P1" else "Medium",
    }


def _control(d: Mapping[str, Any]) -> View:
    return {
        "operation": f"control.{d.get('kind', 'changed')}",
        "object": _obj("control", d.get("kind"), d.get("scope"), value=d.get("value")),
        "result": "Success",
        "severity": "High" if d.get("kind") == "kill_switch" else "Medium",
    }


def _elevation(d: Mapping[str, Any]) -> View:
    state = str(d.get("state", ""))
    return {
        "operation": f"elevation.{state or 'changed'}",
        "object": _obj("grant", d.get("grant_id"), d.get("principal")),
        "result": "Failure" if state == "refused" else "Success",
        "result_detail": state,
        "severity": "High" if state == "refused" else "Medium",
    }


def _deadletter(d: Mapping[str, Any]) -> View:
    return {
        "operation": "message.dead_lettered",
        "object": _obj("message", d.get("original_id"), d.get("topic"), service=d.get("service")),
        "result": "Failure",
        "result_detail": str(d.get("reason", ""))[:200],
        "severity": "Medium",
    }


_BY_TYPE: dict[str, Callable[[Mapping[str, Any]], View]] = {
    "sre.alert.received.v1": _alert,
    "sre.incident.changed.v1": _incident,
    "sre.plan.proposed.v1": _plan,
    "sre.approval.requested.v1": _approval_requested,
    "sre.approval.decided.v1": _approval_decided,
    "sre.policy.decided.v1": _policy,
    "sre.action.reported.v1": _report,
    "sre.escalation.raised.v1": _escalation,
    "sre.control.changed.v1": _control,
    "sre.elevation.changed.v1": _elevation,
    "sre.deadletter.v1": _deadletter,
}


def _actor(record: Mapping[str, Any]) -> dict[str, Any]:
    actor = record.get("actor") or {}
    principal = actor.get("principal")
    identity = actor.get("identity")
    if isinstance(principal, dict):
        return {
            "id": principal.get("id"),
            "type": "human",
            "verified": bool(principal.get("verified")),
            "via": identity,
            "basis": "identity_token" if "token_id" in principal else "declared",
        }
    return {
        "id": identity or record.get("source"),
        "type": "service" if identity else "unknown",
        "verified": actor.get("basis") == "broker_acl",
        "basis": actor.get("basis", "declared"),
    }


@cache
def product_version() -> str:
    """The installed audit package's version: OCSF's `metadata.product.version`."""
    try:
        return metadata.version("warden-audit")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def siem_view(record: Mapping[str, Any]) -> View:
    """actor / operation / object / result / result_detail / severity / severity_id / class_uid /
    time, and `ocsf`: the same as an OCSF API Activity event."""
    envelope = record.get("envelope") or {}
    data = envelope.get("data") or {}
    mapper = _BY_TYPE.get(str(record.get("type")))
    view: View = {"operation": str(record.get("type")), "object": {"type": "message"}}
    if mapper is not None and isinstance(data, dict):
        with contextlib.suppress(TypeError, ValueError, AttributeError):  # odd payload: generic view
            view = mapper(data)
    severity = view.get("severity", "Informational")
    found: View = {
        "actor": _actor(record),
        "operation": view["operation"],
        "object": view["object"],
        "result": view.get("result", "NA"),
        "result_detail": view.get("result_detail"),
        "severity": severity,
        "severity_id": SEVERITY_ID[severity],
        "class_uid": OCSF_CLASS_API_ACTIVITY,
        "time": envelope.get("time"),
    }
    return found | {"ocsf": ocsf_event(record, found, product_version())}
