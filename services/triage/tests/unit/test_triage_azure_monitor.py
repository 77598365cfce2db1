"""Azure Monitor common alert schema -> AlertReceived, and the field paths of every rejection."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.events import Severity
from warden_triage.domain.azure_monitor import normalise_azure_monitor, resource_group_of
from warden_triage.domain.sources import NormalisationError

FIXTURES = Path(__file__).parent.parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_metric_fired_maps_essentials_and_custom_properties() -> None:
    payload = fixture("azure_metric_fired.json")
    alert = normalise_azure_monitor(payload)
    assert alert.source_kind == "azure_monitor"
    assert alert.alert_id == payload["data"]["essentials"]["alertId"]
    assert alert.rule == "High memory usage"
    assert alert.status == "Fired"
    assert alert.severity is Severity.SEV2
    assert alert.signal == "Metric"
    assert alert.resource_id.endswith("/microsoft.web/sites/checkout")
    assert alert.service == "checkout"
    assert alert.environment == "prod"
    assert alert.resource_group == "rg-shop-prod"
    assert alert.fired_at == datetime(2026, 11, 15, 10, 13, 41, 432765, tzinfo=UTC)
    assert alert.labels["metric_name"] == "MemoryWorkingSetPercentage"
    assert alert.labels["team"] == "payments"
    assert alert.description == "Working set above 90% for 5 minutes"
    assert alert.raw == payload


def test_metric_resolved_keeps_alert_id_and_status() -> None:
    fired = normalise_azure_monitor(fixture("azure_metric_fired.json"))
    resolved = normalise_azure_monitor(fixture("azure_metric_resolved.json"))
    assert resolved.status == "Resolved"
    assert resolved.alert_id == fired.alert_id
    assert resolved.rule == fired.rule and resolved.resource_id == fired.resource_id


def test_log_search_alert_derives_service_and_an_unknown_environment() -> None:
    alert = normalise_azure_monitor(fixture("azure_log_search_fired.json"))
    assert alert.signal == "Log"
    assert alert.severity is Severity.SEV1
    assert alert.service == "orders"  # last segment of configurationItems[0]
    # Nothing states the environment: never a default of dev (the estate maps it, or it stays unknown).
    assert alert.environment == "unknown"
    assert alert.resource_group == "rg-shop-dev"
    assert "metric_name" not in alert.labels
    assert alert.fired_at == datetime(2026, 11, 15, 11, 0, 5, tzinfo=UTC)


def test_activity_log_alert_without_configuration_items_uses_resource_name() -> None:
    alert = normalise_azure_monitor(fixture("azure_activity_log_fired.json"))
    assert alert.signal == "Activity Log"
    assert alert.service == "kv-warden"
    assert alert.resource_group == "rg-platform"
    assert alert.labels["operation_name"] == "Microsoft.KeyVault/vaults/write"
    assert alert.labels["category"] == "Security"
    assert alert.description == ""


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _with(payload: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


ESS = ("data", "essentials")
BASE = fixture("azure_metric_fired.json")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (["not", "an", "object"], "$"),
        (_with(BASE, "somethingElse", "schemaId"), "schemaId"),
        (_without(BASE, "schemaId"), "schemaId"),
        (_without(BASE, "data"), "data"),
        (_with(BASE, "x", "data"), "data"),
        (_without(BASE, *ESS), "data.essentials"),
        (_without(BASE, *ESS, "alertId"), "data.essentials.alertId"),
        (_with(BASE, "   ", *ESS, "alertId"), "data.essentials.alertId"),
        (_with(BASE, 7, *ESS, "alertRule"), "data.essentials.alertRule"),
        (_with(BASE, "Sev9", *ESS, "severity"), "data.essentials.severity"),
        (_with(BASE, "Trace", *ESS, "signalType"), "data.essentials.signalType"),
        (_with(BASE, "Acknowledged", *ESS, "monitorCondition"), "data.essentials.monitorCondition"),
        (_without(BASE, *ESS, "monitorCondition"), "data.essentials.monitorCondition"),
        (_with(BASE, [], *ESS, "alertTargetIDs"), "data.essentials.alertTargetIDs"),
        (_with(BASE, "/sub/x", *ESS, "alertTargetIDs"), "data.essentials.alertTargetIDs"),
        (_with(BASE, ["/ok", 3], *ESS, "alertTargetIDs"), "data.essentials.alertTargetIDs[1]"),
        (_with(BASE, [""], *ESS, "configurationItems"), "data.essentials.configurationItems[0]"),
        (_with(BASE, "yesterday", *ESS, "firedDateTime"), "data.essentials.firedDateTime"),
        (_without(BASE, *ESS, "firedDateTime"), "data.essentials.firedDateTime"),
        (_with(BASE, "x" * 9000, *ESS, "description"), "data.essentials.description"),
        (_with(BASE, [], "data", "alertContext"), "data.alertContext"),
        (_with(BASE, "svc", "data", "customProperties"), "data.customProperties"),
        (_with(BASE, {"k": {"nested": 1}}, "data", "customProperties"), "data.customProperties.k"),
        (_without(fixture("azure_metric_resolved.json"), *ESS, "resolvedDateTime"), "data.essentials.resolvedDateTime"),
        (
            _with(fixture("azure_metric_resolved.json"), "soon", *ESS, "resolvedDateTime"),
            "data.essentials.resolvedDateTime",
        ),
    ],
)
def test_invalid_payload_names_the_field_at_fault(payload: Any, field: str) -> None:
    with pytest.raises(NormalisationError) as caught:
        normalise_azure_monitor(payload)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_naive_timestamp_is_taken_as_utc() -> None:
    alert = normalise_azure_monitor(_with(BASE, "2026-11-15T10:00:00", *ESS, "firedDateTime"))
    assert alert.fired_at == datetime(2026, 11, 15, 10, 0, tzinfo=UTC)


def test_service_falls_back_to_configuration_item_without_custom_properties() -> None:
    alert = normalise_azure_monitor(_without(BASE, "data", "customProperties"))
    assert alert.service == "checkout"
    assert alert.environment == "unknown"


@pytest.mark.parametrize(
    ("resource_id", "group"),
    [
        ("/subscriptions/s/resourceGroups/rg-a/providers/Microsoft.Web/sites/x", "rg-a"),
        ("/subscriptions/s/resourcegroups/RG-B/providers/x", "RG-B"),
        ("/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/1", None),
    ],
)
def test_resource_group_is_parsed_from_the_resource_id(resource_id: str, group: str | None) -> None:
    assert resource_group_of(resource_id) == group


def _tagged(payload: dict[str, Any], *, props: dict[str, str] | None = None, dims: list[dict[str, str]] | None = None):
    body = copy.deepcopy(payload)
    if props is not None:
        body["data"]["customProperties"] = props
    if dims is not None:
        body["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"] = dims
    return body


@pytest.mark.parametrize(
    ("props", "dims", "environment"),
    [
        # A custom property (alert rule or alert processing rule) carrying the resource's tag.
        ({"Environment": "Production"}, None, "prod"),
        ({"ENV": "stg"}, None, "staging"),
        # A log search query that splits by the tag: a dimension of the fired condition.
        (None, [{"name": "Computer", "value": "vm-1"}, {"name": "environment", "value": "Development"}], "dev"),
        # The custom property wins over a dimension; a value of no known spelling stays as stated.
        ({"environment": "prod"}, [{"name": "environment", "value": "dev"}], "prod"),
        (None, [{"name": "env", "value": "qa"}], "qa"),
        # Nothing states it: unknown, never dev.
        (None, [{"name": "Computer", "value": "vm-1"}], "unknown"),
    ],
    ids=["property-production", "property-stg", "dimension", "property-wins", "other-value", "none"],
)
def test_environment_tag_from_custom_properties_or_log_search_dimensions(
    props: dict[str, str] | None, dims: list[dict[str, str]] | None, environment: str
) -> None:
    alert = normalise_azure_monitor(_tagged(fixture("azure_log_search_fired.json"), props=props, dims=dims))
    assert alert.environment == environment
