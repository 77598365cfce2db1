"""Prometheus Alertmanager webhook (version 4) and Grafana alerting webhook -> `AlertReceived`.

Alertmanager (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config) posts one
notification per alert group: `version` "4", `groupKey`, `truncatedAlerts`, `status`, `receiver`,
`groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL` and `alerts[]` (each with
`status`, `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`, `fingerprint`).
Grafana's webhook contact point sends the same shape plus `orgId`, `title`, `state`, `message`
(version "1") and per alert `silenceURL`, `dashboardURL`, `panelURL`, `values`, `valueString`.

One normalised alert per group member. Its id is the source's label fingerprint plus `startsAt`:
stable between the firing and the resolved notification of one episode and across re-sends,
but a new episode (fired again after resolving) gets a new id, so the broker's de-duplication
window never swallows a genuine re-fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden_contracts.canonical import sha256_hex
from warden_contracts.events import AlertReceived, Severity

from warden_triage.domain.azure_monitor import resource_group_of
from warden_triage.domain.fields import (
    MAX_DESCRIPTION,
    checked_string_map,
    object_list,
    optional_text,
    parse_time,
    required_text,
    string_map,
)
from warden_triage.domain.kubernetes import service_of
from warden_triage.domain.normalised import trusted_alert
from warden_triage.domain.sources import NormalisationError, require_mapping

PROMETHEUS = "prometheus"
GRAFANA = "grafana"
UNKNOWN_ENVIRONMENT = "unknown"
_STATUS = {"firing": "Fired", "resolved": "Resolved"}
# Prometheus has no severity standard; these are the conventions seen in kube-prometheus,
# PagerDuty and Opsgenie integrations.
_SEVERITY = {
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "high": Severity.SEV2,
    "error": Severity.SEV2,
    "major": Severity.SEV2,
    "warning": Severity.SEV3,
    "minor": Severity.SEV3,
    "info": Severity.SEV4,
    "low": Severity.SEV4,
    "none": Severity.SEV4,
}
_RESOURCE_LABELS = ("resource_id", "azure_resource_id", "instance", "pod", "service", "job")
_ENVIRONMENT_LABELS = ("environment", "env")
_GROUP_FIELDS = ("version", "groupKey", "truncatedAlerts", "status", "receiver", "externalURL", "orgId", "title")


_SEVERITY_NAMES = {member.value.lower(): member for member in Severity}


def severity_of(labels: Mapping[str, str]) -> Severity:
    """`Sev0`..`Sev4` in any case, else the conventions above, else Sev3."""
    value = labels.get("severity", "").strip().lower()
    return _SEVERITY_NAMES.get(value) or _SEVERITY.get(value, Severity.SEV3)


def _first(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = labels.get(name, "").strip()
        if value:
            return value
    return None


def _count(value: Any, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NormalisationError(path, "must be a non-negative integer")
    return value


@dataclass(frozen=True)
class _Group:
    """What every alert of one notification shares, read once per notification."""

    source_kind: str
    body: Mapping[str, Any]
    common_labels: dict[str, str]
    raw: dict[str, Any]  # the group fields of each alert's `raw`
    truncated: int


class _GroupFieldError(NormalisationError):
    """A group field at fault, read while normalising one of its alerts: its path is the group's."""


def _title(group: _Group) -> str:
    try:
        return optional_text(group.body, "title", "title") or ""
    except NormalisationError as err:
        raise _GroupFieldError(err.field, err.message) from None


def _alert(group: _Group, item: Mapping[str, Any], index: int) -> AlertReceived:
    try:
        return _checked_alert(group, item)
    except _GroupFieldError as err:
        raise NormalisationError(err.field, err.message) from None
    except NormalisationError as err:  # named inside the alert; the path starts at the group
        raise NormalisationError(f"alerts[{index}].{err.field}", err.message) from None


def _checked_alert(group: _Group, item: Mapping[str, Any]) -> AlertReceived:
    """Every field checked here as `AlertReceived` declares it, so it is built without pydantic
    validating them again (`trusted_alert`); paths are relative to the alert."""
    source_kind, truncated = group.source_kind, group.truncated
    labels = {**group.common_labels, **checked_string_map(item.get("labels"), "labels")}
    annotations = checked_string_map(item.get("annotations"), "annotations")
    rule = labels.get("alertname", "").strip() or _title(group)
    if not rule:
        raise NormalisationError("labels.alertname", "is required")
    status_text = required_text(item, "status", "status")
    status = _STATUS.get(status_text)
    if status is None:
        raise NormalisationError("status", f"must be one of {list(_STATUS)}, got {status_text[:32]!r}")
    fired_at = parse_time(required_text(item, "startsAt", "startsAt"), "startsAt")
    fingerprint = optional_text(item, "fingerprint", "fingerprint") or sha256_hex(labels)[:16]
    resource_id = _first(labels, _RESOURCE_LABELS) or f"{source_kind}:{rule}"
    description = annotations.get("description") or annotations.get("summary") or ""
    if truncated:
        # Alertmanager dropped these before sending (`max_alerts`); they are gone at the source,
        # so every alert of the group says so and the gateway counts it.
        labels["truncated_alerts"] = str(truncated)
    return trusted_alert(
        {
            "source_kind": source_kind,
            "alert_id": f"{source_kind}:{fingerprint}:{fired_at.isoformat()}",
            "rule": rule,
            "status": status,
            "severity": severity_of(labels),
            "resource_id": resource_id,
            "service": service_of(labels),
            "environment": _first(labels, _ENVIRONMENT_LABELS) or UNKNOWN_ENVIRONMENT,
            "resource_group": labels.get("resource_group") or resource_group_of(resource_id),
            "signal": "Metric",
            "description": description[:MAX_DESCRIPTION],
            "fired_at": fired_at,
            "labels": labels,
            "raw": {**group.raw, "alert": dict(item)},
        }
    )


def normalise_group(payload: Any, source_kind: str, *, version: str) -> list[AlertReceived]:
    body = require_mapping(payload, "$")
    found = body.get("version")
    if found != version:
        raise NormalisationError("version", f"must be {version!r}, got {str(found)[:32]!r}")
    truncated = _count(body.get("truncatedAlerts"), "truncatedAlerts")
    items = object_list(body.get("alerts"), "alerts")
    if not items:
        raise NormalisationError("alerts", "must not be empty")
    # As when each alert read them: the first alert's bad labels are refused before `commonLabels`.
    string_map(items[0].get("labels"), "alerts[0].labels")
    common = string_map(body.get("commonLabels"), "commonLabels")
    group = _Group(source_kind, body, common, {k: body[k] for k in _GROUP_FIELDS if k in body}, truncated)
    return [_alert(group, item, i) for i, item in enumerate(items)]


class AlertmanagerSource:
    """Webhook source for `POST /webhooks/prometheus`."""

    route = "prometheus"

    def normalise(self, payload: Any) -> list[AlertReceived]:
        return normalise_group(payload, PROMETHEUS, version="4")


class GrafanaSource:
    """Webhook source for `POST /webhooks/grafana`."""

    route = "grafana"

    def normalise(self, payload: Any) -> list[AlertReceived]:
        return normalise_group(payload, GRAFANA, version="1")
