"""Incident fingerprints: a hash over declared structural fields of an alert, never free text.

Two alerts with the same fingerprint belong to the same open incident. Only fields that describe
*what* is alerting (source, rule, resource, labels) may be declared; descriptions, timestamps and
raw payloads vary between firings and would split one problem into many incidents.

`delivery_id` is the other identity: which *notification* this is, the broker's de-duplication id
and the key triage remembers as processed. It must tell a sender's retry (a duplicate) from a new
episode of the same alert (a firing after a Resolved), or the new episode is silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from warden_contracts.canonical import sha256_hex
from warden_contracts.envelope import derived_id
from warden_contracts.events import AlertReceived

DEFAULT_FINGERPRINT_FIELDS: tuple[str, ...] = ("source_kind", "rule", "resource_id")
STRUCTURAL_FIELDS = frozenset(
    {"source_kind", "rule", "resource_id", "service", "environment", "resource_group", "signal"}
)
LABEL_PREFIX = "labels."
# Azure resource ids are case-insensitive; sources disagree on their casing.
_CASE_INSENSITIVE = frozenset({"resource_id", "resource_group"})


def validate_fields(fields: Sequence[str]) -> tuple[str, ...]:
    if not fields:
        raise ValueError("a fingerprint needs at least one field")
    for name in fields:
        if name not in STRUCTURAL_FIELDS and not (name.startswith(LABEL_PREFIX) and len(name) > len(LABEL_PREFIX)):
            raise ValueError(
                f"{name!r} is not a structural alert field; allowed: {sorted(STRUCTURAL_FIELDS)} or labels.<name>"
            )
    if len(set(fields)) != len(fields):
        raise ValueError(f"fingerprint fields repeat: {list(fields)}")
    return tuple(fields)


def _value(alert: AlertReceived, name: str) -> str | None:
    if name.startswith(LABEL_PREFIX):
        return alert.labels.get(name[len(LABEL_PREFIX) :])
    value = getattr(alert, name)
    if value is None:
        return None
    text = str(value).strip()
    return text.lower() if name in _CASE_INSENSITIVE else text


def fingerprint(alert: AlertReceived, fields: Sequence[str]) -> str:
    """sha256 (hex) of the canonical JSON of {field: value} for the declared fields."""
    return sha256_hex({name: _value(alert, name) for name in validate_fields(fields)})


def delivery_id(alert: AlertReceived) -> str:
    """CloudEvents name each event by (source, id): the spec's duplicate key, whatever the time.
    Every other source keeps one alert id across repeats of a notification and across its
    Resolved, so the episode is the alert id plus when it fired (Alertmanager's `startsAt`,
    Azure Monitor's `firedDateTime`): a re-fire after a resolve fires later."""
    if alert.source_kind == "cloudevents" and alert.raw.get("id") and alert.raw.get("source"):
        return derived_id(f"ce:{alert.raw['source']}:{alert.raw['id']}", "cloudevent")
    return derived_id(f"{alert.alert_id}@{alert.fired_at.isoformat()}", alert.status)
