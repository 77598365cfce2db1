"""Azure Monitor common alert schema -> `AlertReceived`.

https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema: `schemaId`
"azureMonitorCommonAlertSchema", `data.essentials` (the fields every alert shares),
`data.alertContext` (signal-specific) and optional `data.customProperties`.

The schema carries no resource tags of its own. A resource's `environment` tag reaches the payload
the two ways Azure Monitor documents for adding data: a custom property of the alert rule or of an
alert processing rule, and, for a log search alert, a dimension the query splits by (e.g.
`extend environment = tostring(tags.environment)`). Tag names are case-insensitive in Azure, so
are these keys; common spellings of a value (`Production`, `prd`, `stg`, `Development`) are read
as the environment they name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warden_contracts.events import AlertReceived, Severity

from warden_triage.domain.sources import NormalisationError, require_mapping

SCHEMA_ID = "azureMonitorCommonAlertSchema"
SOURCE_KIND = "azure_monitor"
SIGNAL_TYPES = ("Metric", "Log", "Activity Log")
MONITOR_CONDITIONS = ("Fired", "Resolved")
# Never a guess: an alert that does not state its environment is `unknown` until the estate maps
# its resource (the most restrictive treatment, see docs/alert-sources.md).
UNKNOWN_ENVIRONMENT = "unknown"
MAX_TEXT = 2048
MAX_DESCRIPTION = 8192
_RESOURCE_GROUP = re.compile(r"/resourcegroups/([^/]+)", re.IGNORECASE)
_ESSENTIALS = "data.essentials"


def resource_group_of(resource_id: str) -> str | None:
    match = _RESOURCE_GROUP.search(resource_id)
    return match.group(1) if match else None


def _text(
    container: Mapping[str, Any], key: str, path: str, *, required: bool = True, max_len: int = MAX_TEXT
) -> str | None:
    value = container.get(key)
    if value is None:
        if required:
            raise NormalisationError(path, "is required")
        return None
    if not isinstance(value, str):
        raise NormalisationError(path, "must be a string")
    value = value.strip()
    if required and not value:
        raise NormalisationError(path, "must not be empty")
    if len(value) > max_len:
        raise NormalisationError(path, f"is longer than {max_len} characters")
    return value


def _resource_name(item: str) -> str:
    """`configurationItems` hold a name or a full resource id; the service is its last segment."""
    return item.rstrip("/").rsplit("/", 1)[-1]


def _required_text(container: Mapping[str, Any], key: str, path: str) -> str:
    value = _text(container, key, path)
    if value is None:  # unreachable: _text raises for a missing required field
        raise NormalisationError(path, "is required")
    return value


def _choice(container: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> str:
    value = _required_text(container, key, path)
    if value not in allowed:
        raise NormalisationError(path, f"must be one of {list(allowed)}, got {value!r}")
    return value


def _parse_time(text: str, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NormalisationError(path, f"is not an ISO 8601 timestamp: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _string_list(container: Mapping[str, Any], key: str, path: str, *, required: bool) -> list[str]:
    value = container.get(key)
    if value is None:
        if required:
            raise NormalisationError(path, "is required")
        return []
    if not isinstance(value, list):
        raise NormalisationError(path, "must be a list of strings")
    items: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT:
            raise NormalisationError(f"{path}[{index}]", f"must be a non-empty string of at most {MAX_TEXT} characters")
        items.append(item.strip())
    if required and not items:
        raise NormalisationError(path, "must not be empty")
    return items


def _custom_properties(data: Mapping[str, Any]) -> dict[str, str]:
    value = data.get("customProperties")
    if value is None:
        return {}
    props = require_mapping(value, "data.customProperties")
    out: dict[str, str] = {}
    for key, item in props.items():
        if not isinstance(item, str | int | float | bool):
            raise NormalisationError(f"data.customProperties.{key}", "must be a string, number or boolean")
        out[str(key)] = str(item)
    return out


_ENVIRONMENT_KEYS = ("environment", "env")
ENVIRONMENT_SPELLINGS = {
    "prod": "prod",
    "prd": "prod",
    "production": "prod",
    "live": "prod",
    "staging": "staging",
    "stg": "staging",
    "stage": "staging",
    "preprod": "staging",
    "uat": "staging",
    "dev": "dev",
    "development": "dev",
}


def _dimensions(context: Mapping[str, Any]) -> dict[str, str]:
    """Log search (and metric) alert dimensions: `alertContext.condition.allOf[].dimensions[]` of
    `{name, value}`; the first value of each name wins."""
    condition = context.get("condition")
    criteria = condition.get("allOf") if isinstance(condition, Mapping) else None
    out: dict[str, str] = {}
    for criterion in criteria if isinstance(criteria, list) else []:
        dimensions = criterion.get("dimensions") if isinstance(criterion, Mapping) else None
        for item in dimensions if isinstance(dimensions, list) else []:
            name = item.get("name") if isinstance(item, Mapping) else None
            value = item.get("value") if isinstance(item, Mapping) else None
            if isinstance(name, str) and isinstance(value, str) and len(value) <= 256:
                out.setdefault(name, value.strip())
    return out


def stated_environment(props: Mapping[str, str], context: Mapping[str, Any]) -> str:
    """The environment the payload states (custom properties, then dimensions), else `unknown`."""
    for source in (props, _dimensions(context)):
        by_key = {key.lower(): value for key, value in source.items()}
        value = next((by_key[k] for k in _ENVIRONMENT_KEYS if by_key.get(k)), None)
        if value:
            return ENVIRONMENT_SPELLINGS.get(value.lower(), value)
    return UNKNOWN_ENVIRONMENT


# alertContext keys worth a label per monitoring service (service health and resource health
# nest theirs under `properties`); short structural values only, never free text.
_CONTEXT_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "Activity Log": (("operationName", "operation_name"), ("category", "category"), ("eventSource", "event_source")),
    "SmartDetector": (("DetectorName", "detector"), ("DetectedValue", "detected_value")),
}
_HEALTH_KEYS = (
    ("incidentType", "incident_type"),
    ("service", "impacted_service"),
    ("trackingId", "tracking_id"),
    ("currentHealthStatus", "current_health_status"),
    ("previousHealthStatus", "previous_health_status"),
    ("cause", "health_cause"),
    ("stage", "stage"),
)


def _copy_labels(source: Mapping[str, Any], keys: tuple[tuple[str, str], ...], labels: dict[str, str]) -> None:
    for key, label in keys:
        value = source.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and len(str(value)) <= 256:
            labels[label] = str(value)


def _context_labels(signal: str, monitoring_service: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Structural hints from alertContext that classification rules may match on."""
    labels: dict[str, str] = {}
    condition_type = context.get("conditionType")
    if isinstance(condition_type, str) and len(condition_type) <= 256:
        labels["condition_type"] = condition_type  # e.g. DynamicThresholdCriteria, LogQueryCriteria
    condition = context.get("condition")
    criteria = condition.get("allOf") if isinstance(condition, Mapping) else None
    if isinstance(criteria, list) and criteria and isinstance(criteria[0], Mapping):
        _copy_labels(criteria[0], (("metricName", "metric_name"), ("alertSensitivity", "sensitivity")), labels)
    _copy_labels(context, _CONTEXT_KEYS.get(signal, ()), labels)
    _copy_labels(context, _CONTEXT_KEYS.get(monitoring_service, ()), labels)
    properties = context.get("properties")
    if monitoring_service in {"ServiceHealth", "Resource Health"} and isinstance(properties, Mapping):
        _copy_labels(properties, _HEALTH_KEYS, labels)
    return labels


def normalise_azure_monitor(payload: Any) -> AlertReceived:
    """Map one common-schema alert; raise `NormalisationError` naming the first field at fault."""
    body = require_mapping(payload, "$")
    schema = body.get("schemaId")
    if schema != SCHEMA_ID:
        raise NormalisationError("schemaId", f"must be {SCHEMA_ID!r}, got {schema!r}")
    data = require_mapping(body.get("data"), "data")
    essentials = require_mapping(data.get("essentials"), _ESSENTIALS)

    def path(key: str) -> str:
        return f"{_ESSENTIALS}.{key}"

    alert_id = _required_text(essentials, "alertId", path("alertId"))
    rule = _required_text(essentials, "alertRule", path("alertRule"))
    severity = Severity(_choice(essentials, "severity", path("severity"), tuple(s.value for s in Severity)))
    signal = _choice(essentials, "signalType", path("signalType"), SIGNAL_TYPES)
    status = _choice(essentials, "monitorCondition", path("monitorCondition"), MONITOR_CONDITIONS)
    targets = _string_list(essentials, "alertTargetIDs", path("alertTargetIDs"), required=True)
    items = _string_list(essentials, "configurationItems", path("configurationItems"), required=False)
    fired_at = _parse_time(_required_text(essentials, "firedDateTime", path("firedDateTime")), path("firedDateTime"))
    resolved_text = _text(essentials, "resolvedDateTime", path("resolvedDateTime"), required=status == "Resolved")
    if resolved_text:
        _parse_time(resolved_text, path("resolvedDateTime"))
    description = _text(essentials, "description", path("description"), required=False, max_len=MAX_DESCRIPTION) or ""
    context_value = data.get("alertContext")
    context = require_mapping(context_value, "data.alertContext") if context_value is not None else {}
    props = _custom_properties(data)

    resource_id = targets[0]
    service = props.get("service") or _resource_name(items[0] if items else resource_id)
    monitoring_service = essentials.get("monitoringService")
    monitoring = monitoring_service if isinstance(monitoring_service, str) else ""
    labels = {**_context_labels(signal, monitoring, context), **props}
    if monitoring:
        labels.setdefault("monitoring_service", monitoring[:256])
    return AlertReceived(
        source_kind=SOURCE_KIND,
        alert_id=alert_id,
        rule=rule,
        status=status,
        severity=severity,
        resource_id=resource_id,
        service=service,
        environment=stated_environment(props, context),
        resource_group=resource_group_of(resource_id),
        signal=signal,
        description=description,
        fired_at=fired_at,
        labels=labels,
        raw=dict(body),
    )


class AzureMonitorSource:
    """Webhook source for `POST /webhooks/azure-monitor`."""

    route = "azure-monitor"

    def normalise(self, payload: Any) -> list[AlertReceived]:
        return [normalise_azure_monitor(payload)]
