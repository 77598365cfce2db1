"""A CloudEvent carrying an alert -> `AlertReceived`: the source for anything without its own adapter.

The HTTP adapter decodes structured and binary mode with the CloudEvents SDK and hands over the
structured form: the context attributes (`specversion` "1.0", `id`, `source`, `type`, optional
`subject`, `time`, extensions) plus `data`, which must be a JSON object:

    {"rule": "Queue backlog", "status": "Fired", "resource_id": "...", "severity": "Sev2",
     "service": "orders", "environment": "prod", "description": "...", "labels": {...},
     "alert_id": "...", "fired_at": "..."}

Only `rule` is required in `data`; `resource_id` falls back to the event's `subject`, `status`
to the event type (a type ending in `.resolved` resolves), `fired_at` to `time`, and `alert_id`
to a hash of source, rule and resource, so the firing and the resolving event of one problem
pair up without the sender tracking ids.

Episodes: the event's (`source`, `id`) is its identity, so only a re-sent event is a duplicate.
A firing with a new id while the incident is open is a repeat of the same episode; a firing after
a Resolved one opens a new incident (`fingerprint.delivery_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warden_contracts.canonical import sha256_hex
from warden_contracts.events import AlertReceived, Severity

from warden_triage.domain.azure_monitor import resource_group_of
from warden_triage.domain.fields import MAX_DESCRIPTION, optional_text, parse_time, required_text, string_map
from warden_triage.domain.sources import NormalisationError, require_mapping

SOURCE_KIND = "cloudevents"
SPEC_VERSION = "1.0"
_STATUS = {"fired": "Fired", "firing": "Fired", "resolved": "Resolved"}


def _status(data: Mapping[str, Any], event_type: str) -> str:
    given = optional_text(data, "status", "data.status")
    if given is None:
        return "Resolved" if event_type.lower().endswith(".resolved") else "Fired"
    status = _STATUS.get(given.lower())
    if status is None:
        raise NormalisationError("data.status", f"must be one of ['Fired', 'Resolved'], got {given[:32]!r}")
    return status


def _severity(data: Mapping[str, Any]) -> Severity:
    given = optional_text(data, "severity", "data.severity")
    if given is None:
        return Severity.SEV3
    for member in Severity:
        if given.lower() == member.value.lower():
            return member
    raise NormalisationError("data.severity", f"must be one of {[s.value for s in Severity]}, got {given[:32]!r}")


def normalise_cloudevent(payload: Any) -> AlertReceived:
    event = require_mapping(payload, "$")
    version = event.get("specversion")
    if version != SPEC_VERSION:
        raise NormalisationError("specversion", f"must be {SPEC_VERSION!r}, got {str(version)[:32]!r}")
    required_text(event, "id", "id")
    ce_source = required_text(event, "source", "source")
    event_type = required_text(event, "type", "type")
    subject = optional_text(event, "subject", "subject")
    data = require_mapping(event.get("data"), "data")

    rule = required_text(data, "rule", "data.rule")
    resource_id = optional_text(data, "resource_id", "data.resource_id") or subject
    if resource_id is None:
        raise NormalisationError("data.resource_id", "is required when the event has no subject")
    fired_text = optional_text(data, "fired_at", "data.fired_at") or optional_text(event, "time", "time")
    if fired_text is None:
        raise NormalisationError("data.fired_at", "is required when the event has no time")
    fired_at = parse_time(fired_text, "data.fired_at" if data.get("fired_at") else "time")
    alert_id = optional_text(data, "alert_id", "data.alert_id") or (
        f"ce:{sha256_hex({'source': ce_source, 'rule': rule, 'resource_id': resource_id})[:32]}"
    )
    labels = string_map(data.get("labels"), "data.labels") | {"ce_source": ce_source[:256], "ce_type": event_type[:256]}
    return AlertReceived(
        source_kind=SOURCE_KIND,
        alert_id=alert_id,
        rule=rule,
        status=_status(data, event_type),
        severity=_severity(data),
        resource_id=resource_id,
        service=optional_text(data, "service", "data.service"),
        environment=optional_text(data, "environment", "data.environment") or "unknown",
        resource_group=optional_text(data, "resource_group", "data.resource_group") or resource_group_of(resource_id),
        signal=optional_text(data, "signal", "data.signal"),
        description=optional_text(data, "description", "data.description", max_len=MAX_DESCRIPTION) or "",
        fired_at=fired_at,
        labels=labels,
        raw=dict(event),
    )


class CloudEventsSource:
    """Webhook source for `POST /webhooks/cloudevents` (structured or binary HTTP mode)."""

    route = "cloudevents"

    def normalise(self, payload: Any) -> list[AlertReceived]:
        return [normalise_cloudevent(payload)]
