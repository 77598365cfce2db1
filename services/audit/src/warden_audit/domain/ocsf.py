"""An audit record as an OCSF 1.3 API Activity event (class 6003, category 6 Application Activity).

Built from the record and its SIEM view (`siem.siem_view`), so the ASIM and OCSF shapes never
disagree. OCSF has no place for a hash chain: the chain fields (seq, record_hash, prev_hash,
message id and type) travel under `unmapped.warden`, where OCSF puts source fields it does not
model, so a consumer can still verify the chain from the OCSF event alone. docs/siem.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

OCSF_VERSION = "1.3.0"
CATEGORY_APPLICATION_ACTIVITY = 6
CLASS_API_ACTIVITY = 6003
PRODUCT = "Warden"
VENDOR = "Warden"
ACTIVITIES = {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
STATUSES = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
_STATUS_ID = {"Success": 1, "Failure": 2, "Partial": 99, "NA": 0}
# Operation prefix or whole operation -> activity: what the recorded step did to its object.
_ACTIVITY = {
    "alert.fired": 1,
    "alert.resolved": 3,
    "incident.opened": 1,
    "incident.updated": 3,
    "incident.resolved": 3,
    "plan.proposed": 1,
    "approval.requested": 1,
    "approval.approve": 3,
    "approval.deny": 3,
    "policy": 1,  # a gate decision is a new record of a decision
    "action.started": 3,
    "action.succeeded": 3,
    "action.verified": 3,
    "action.rolled_back": 3,
    "action.failed": 3,
    "action.rejected": 3,
    "escalation.raised": 1,
    "control": 3,
    "elevation.activated": 1,
    "elevation.refused": 1,
    "elevation.deactivated": 4,
    "message.dead_lettered": 1,
}
# Users in OCSF: 1 User (a person), 3 System (a service identity), 0 Unknown.
_USER_TYPE = {"human": (1, "User"), "service": (3, "System"), "unknown": (0, "Unknown")}


def epoch_ms(value: Any) -> int | None:
    if value is None:
        return None
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def activity_id(operation: str) -> int:
    if operation in _ACTIVITY:
        return _ACTIVITY[operation]
    return _ACTIVITY.get(operation.split(".", 1)[0], 0 if "." not in operation else 99)


def _user(actor: Mapping[str, Any]) -> dict[str, Any]:
    type_id, type_name = _USER_TYPE.get(str(actor.get("type")), (0, "Unknown"))
    name = str(actor.get("id") or "unknown")
    return {"name": name, "uid": name, "type_id": type_id, "type": type_name}


def _resource(obj: Mapping[str, Any]) -> dict[str, Any]:
    found = {"type": obj.get("type"), "uid": obj.get("id"), "name": obj.get("name")}
    details = {k: v for k, v in obj.items() if k not in {"type", "id", "name"} and v is not None}
    if details:
        found["data"] = details
    return {k: v for k, v in found.items() if v is not None}


def ocsf_event(record: Mapping[str, Any], view: Mapping[str, Any], product_version: str) -> dict[str, Any]:
    """The OCSF API Activity event for one audit record and its SIEM view."""
    operation = str(view["operation"])
    activity = activity_id(operation)
    status_id = _STATUS_ID.get(str(view.get("result")), 0)
    actor = view.get("actor") or {}
    producer = str(actor.get("via") or actor.get("id") or record.get("source") or "unknown")
    event_time = epoch_ms(view.get("time")) or epoch_ms(record.get("recorded_at")) or 0
    event: dict[str, Any] = {
        "category_uid": CATEGORY_APPLICATION_ACTIVITY,
        "category_name": "Application Activity",
        "class_uid": CLASS_API_ACTIVITY,
        "class_name": "API Activity",
        "activity_id": activity,
        "activity_name": ACTIVITIES[activity],
        "type_uid": CLASS_API_ACTIVITY * 100 + activity,
        "type_name": f"API Activity: {ACTIVITIES[activity]}",
        "time": event_time,
        "severity_id": int(view["severity_id"]),
        "severity": str(view["severity"]),
        "status_id": status_id,
        "status": str(view.get("result")) if status_id == 99 else STATUSES[status_id],
        "message": f"{operation} on {(view.get('object') or {}).get('type', 'message')}",
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": product_version},
            "uid": str(record.get("message_id", "")),
            "correlation_uid": str(record.get("correlationid", "")),
            "log_name": "warden-audit",
            "logged_time": epoch_ms(record.get("recorded_at")),
        },
        "actor": {"user": _user(actor), "app_name": producer},
        "api": {"operation": operation, "service": {"name": producer}},
        "src_endpoint": {"name": producer},
        "resources": [_resource(view.get("object") or {"type": "message"})],
        "unmapped": {
            "warden": {
                "seq": record.get("seq"),
                "record_hash": record.get("hash"),
                "prev_hash": record.get("prev_hash"),
                "message_id": record.get("message_id"),
                "message_type": record.get("type"),
                "causationid": record.get("causationid"),
                "actor_verified": bool(actor.get("verified")),
                "actor_basis": actor.get("basis"),
                "result": view.get("result"),
            }
        },
    }
    if view.get("result_detail") is not None:
        event["status_detail"] = str(view["result_detail"])
    return event
