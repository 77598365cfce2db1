"""Alert rules over the service view and the Azure Monitor common alert schema they emit.

The payload mirrors what Azure Monitor posts for a single-resource metric alert, so the triage
webhook parses the sandbox's alerts with the same code path as production ones.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Operator = Literal["GreaterThanOrEqual", "LessThanOrEqual", "LessThan"]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqual": operator.ge,
    "LessThanOrEqual": operator.le,
    "LessThan": operator.lt,
}
_SYMBOL = {"GreaterThanOrEqual": ">=", "LessThanOrEqual": "<=", "LessThan": "<"}


@dataclass(frozen=True)
class AlertRule:
    key: str
    title: str
    metric: str
    operator: Operator
    threshold: float
    severity: str
    signal_type: str = "Metric"

    def value(self, view: dict[str, Any]) -> float:
        return float(view[self.metric])

    def firing(self, view: dict[str, Any]) -> bool:
        return _COMPARE[self.operator](self.value(view), self.threshold)

    def describe(self, view: dict[str, Any]) -> str:
        return (
            f"{self.title} on {view['name']}: {self.metric} is {view[self.metric]} "
            f"({_SYMBOL[self.operator]} {self.threshold:g})"
        )


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule("high_memory", "High memory usage", "memory_pct", "GreaterThanOrEqual", 85, "Sev2"),
    AlertRule("high_5xx", "High HTTP 5xx rate", "error_rate", "GreaterThanOrEqual", 0.05, "Sev1"),
    AlertRule("queue_backlog", "Queue backlog", "queue_depth", "GreaterThanOrEqual", 1000, "Sev2"),
    AlertRule("health_check", "Health check failing", "healthy", "LessThan", 1, "Sev1"),
    AlertRule("disk_pressure", "Disk pressure", "disk_pct", "GreaterThanOrEqual", 90, "Sev2"),
    AlertRule("cert_expiring", "Certificate expiring", "cert_days_left", "LessThanOrEqual", 14, "Sev3"),
)


def subscription_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else "unknown"


def metric_namespace(resource_id: str) -> str:
    """`Microsoft.Web/sites` for `.../providers/Microsoft.Web/sites/checkout-api`."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "Sandbox"
    at = lowered.index("providers")
    return "/".join(parts[at + 1 : at + 3])


def origin_alert_id(rule: AlertRule, view: dict[str, Any]) -> str:
    # Azure's originAlertId identifies rule + resource, not the episode; same here.
    digest = hashlib.sha256(f"{rule.key}|{view['resource_id']}".encode()).hexdigest()[:16]
    sub = subscription_of(view["resource_id"])
    return f"{sub}_{view['resource_group']}_microsoft.insights_metricalerts_{rule.key}_{digest}"


def common_alert(
    rule: AlertRule, view: dict[str, Any], *, alert_uuid: str, condition: str, fired_at: str, resolved_at: str | None
) -> dict[str, Any]:
    sub = subscription_of(view["resource_id"])
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{alert_uuid}",
        "alertRule": rule.title,
        "severity": rule.severity,
        "signalType": rule.signal_type,
        "monitorCondition": condition,
        "monitoringService": "Platform",
        "alertTargetIDs": [view["resource_id"]],
        "configurationItems": [view["name"]],
        "originAlertId": origin_alert_id(rule, view),
        "firedDateTime": fired_at,
        "description": rule.describe(view),
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if resolved_at is not None:
        essentials["resolvedDateTime"] = resolved_at
    criterion = {
        "metricName": rule.metric,
        "metricNamespace": metric_namespace(view["resource_id"]),
        "operator": rule.operator,
        "threshold": f"{rule.threshold:g}",
        "timeAggregation": "Average",
        "dimensions": [],
        "metricValue": view[rule.metric],
    }
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": None,
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {"windowSize": "PT5M", "allOf": [criterion]},
            },
            "customProperties": {"service": view["name"], "environment": view["environment"]},
        },
    }
