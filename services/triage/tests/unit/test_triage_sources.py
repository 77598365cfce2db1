"""Every fixture payload of every source and alert type -> the normalised alert and its class."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.events import Severity
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.domain.alertmanager import normalise_group
from warden_triage.domain.azure_monitor import normalise_azure_monitor
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.cloudevents_alert import normalise_cloudevent
from warden_triage.domain.source_detection import ROUTES, guess_source
from warden_triage.domain.sources import NormalisationError

FIXTURES = Path(__file__).parent.parent / "fixtures"
CLASSIFIER = load_classifier()


def fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


@pytest.mark.parametrize(
    ("name", "incident_class", "labels"),
    [
        ("azure_metric_fired.json", "memory_pressure", {"condition_type": "SingleResourceMultipleMetricCriteria"}),
        (
            "azure_metric_dynamic_fired.json",
            "elevated_error_rate",
            {"condition_type": "DynamicThresholdCriteria", "sensitivity": "Medium", "metric_name": "Http5xx"},
        ),
        ("azure_log_search_fired.json", "elevated_error_rate", {"condition_type": "LogQueryCriteria"}),
        ("azure_log_search_resolved.json", "elevated_error_rate", {"condition_type": "LogQueryCriteria"}),
        ("azure_activity_log_fired.json", "security_alert", {"category": "Security"}),
        (
            "azure_activity_log_administrative_fired.json",
            "bad_deployment",
            {"event_source": "Administrative", "operation_name": "Microsoft.Web/sites/deployments/write"},
        ),
        (
            "azure_service_health_fired.json",
            "unknown",
            {"incident_type": "Incident", "tracking_id": "VLL2-XYZ", "impacted_service": "App Service"},
        ),
        (
            "azure_resource_health_fired.json",
            "failed_health_checks",
            {"current_health_status": "Unavailable", "previous_health_status": "Available"},
        ),
        (
            "azure_smart_detection_fired.json",
            "elevated_error_rate",
            {"detector": "FailureAnomaliesDetector", "monitoring_service": "SmartDetector"},
        ),
        (
            "azure_smart_detection_resolved.json",
            "elevated_error_rate",
            {"detector": "FailureAnomaliesDetector", "monitoring_service": "SmartDetector"},
        ),
    ],
)
def test_azure_monitor_alert_types(name: str, incident_class: str, labels: dict[str, str]) -> None:
    payload = fixture(name)
    alert = normalise_azure_monitor(payload)
    essentials = payload["data"]["essentials"]
    assert alert.alert_id == essentials["alertId"]
    assert alert.status == essentials["monitorCondition"]
    assert alert.signal == essentials["signalType"]
    assert alert.resource_id == essentials["alertTargetIDs"][0]
    assert alert.raw == payload
    assert labels.items() <= alert.labels.items()
    assert CLASSIFIER.classify(alert).value == incident_class


def test_azure_service_health_targets_the_subscription() -> None:
    alert = normalise_azure_monitor(fixture("azure_service_health_fired.json"))
    assert alert.resource_id == "/subscriptions/11111111-1111-1111-1111-111111111111"
    assert alert.resource_group is None
    assert alert.severity is Severity.SEV4


def test_alertmanager_group_becomes_one_alert_per_member() -> None:
    payload = fixture("prometheus_grouped_firing.json")
    alerts = normalise_group(payload, "prometheus", version="4")
    assert [a.status for a in alerts] == ["Fired", "Fired"]
    first, second = alerts
    assert first.alert_id == "prometheus:6f2b1c9e0a7d4c31:2026-11-15T10:02:00+00:00"
    assert first.alert_id != second.alert_id
    assert (first.rule, first.service, first.environment) == ("KubePodCrashLooping", "orders-worker", "prod")
    assert first.severity is Severity.SEV1
    assert first.resource_id == "orders-worker-7c9f5d-abcde"
    assert first.fired_at == datetime(2026, 11, 15, 10, 2, tzinfo=UTC)
    assert first.description == "Container worker restarted 6 times in 10 minutes"
    assert first.raw["alert"] == payload["alerts"][0] and first.raw["groupKey"] == payload["groupKey"]
    assert CLASSIFIER.classify(first).value == "crash_loop"
    registry = builtin_registry()
    assert registry.fingerprint(first) == registry.fingerprint(second)  # one problem, two pods


def test_alertmanager_resolution_pairs_with_its_firing() -> None:
    fired = normalise_group(fixture("prometheus_grouped_firing.json"), "prometheus", version="4")
    resolved = normalise_group(fixture("prometheus_grouped_resolved.json"), "prometheus", version="4")
    assert [a.alert_id for a in fired] == [a.alert_id for a in resolved]
    assert {a.status for a in resolved} == {"Resolved"}


def test_alertmanager_refire_is_a_new_episode() -> None:
    payload = fixture("prometheus_grouped_firing.json")
    again = copy.deepcopy(payload)
    again["alerts"][0]["startsAt"] = "2026-11-15T12:00:00Z"
    first = normalise_group(payload, "prometheus", version="4")[0]
    later = normalise_group(again, "prometheus", version="4")[0]
    assert first.alert_id != later.alert_id


def test_truncated_alerts_are_flagged_on_every_alert() -> None:
    [alert] = normalise_group(fixture("prometheus_truncated.json"), "prometheus", version="4")
    assert alert.labels["truncated_alerts"] == "7"
    assert alert.resource_id == "10.1.4.17:8080"
    assert (alert.service, alert.environment, alert.severity) == ("checkout-api", "dev", Severity.SEV3)
    assert CLASSIFIER.classify(alert).value == "elevated_error_rate"


def test_grafana_firing_and_resolved() -> None:
    [fired] = normalise_group(fixture("grafana_firing.json"), "grafana", version="1")
    [resolved] = normalise_group(fixture("grafana_resolved.json"), "grafana", version="1")
    assert fired.source_kind == "grafana"
    assert fired.alert_id == resolved.alert_id
    assert (fired.status, resolved.status) == ("Fired", "Resolved")
    assert fired.fired_at == datetime(2026, 11, 15, 11, 0, tzinfo=UTC)
    assert fired.resource_group == "rg-shop-dev"
    assert fired.raw["title"].startswith("[FIRING:1]")
    assert CLASSIFIER.classify(fired).value == "disk_pressure"


def test_cloudevent_structured_uses_subject_and_time() -> None:
    event = fixture("cloudevents_structured.json")
    alert = normalise_cloudevent(event)
    assert alert.source_kind == "cloudevents"
    assert alert.resource_id == event["subject"]
    assert alert.status == "Fired"
    assert alert.fired_at == datetime(2026, 11, 15, 13, 5, tzinfo=UTC)
    assert alert.labels["ce_type"] == "com.example.uptime.alert.fired" and alert.labels["probe"] == "https"
    assert alert.resource_group == "rg-shop-dev"
    assert CLASSIFIER.classify(alert).value == "failed_health_checks"
    resolved = copy.deepcopy(event) | {"type": "com.example.uptime.alert.resolved", "id": "other"}
    assert normalise_cloudevent(resolved).status == "Resolved"
    assert normalise_cloudevent(resolved).alert_id == alert.alert_id


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.update(alerts=[]), "alerts"),
        (lambda p: p.update(alerts={"a": 1}), "alerts"),
        (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts"),
        (lambda p: p["alerts"][1].update(status="pending"), "alerts[1].status"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0]["labels"].update(pod=["x"]), "alerts[0].labels.pod"),
        (
            lambda p: (p["alerts"][0]["labels"].pop("alertname"), p["commonLabels"].pop("alertname")),
            "alerts[0].labels.alertname",
        ),
    ],
)
def test_alertmanager_rejections_name_the_field(mutate: Any, field: str) -> None:
    payload = fixture("prometheus_grouped_firing.json")
    mutate(payload)
    with pytest.raises(NormalisationError) as caught:
        normalise_group(payload, "prometheus", version="4")
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(specversion="0.3"), "specversion"),
        (lambda e: e.pop("source"), "source"),
        (lambda e: e.update(data="text"), "data"),
        (lambda e: e["data"].pop("rule"), "data.rule"),
        (lambda e: e.pop("subject"), "data.resource_id"),
        (lambda e: e["data"].update(severity="urgent"), "data.severity"),
        (lambda e: e["data"].update(status="Acknowledged"), "data.status"),
        (lambda e: e.update(time="soon"), "time"),
    ],
)
def test_cloudevent_rejections_name_the_field(mutate: Any, field: str) -> None:
    event = fixture("cloudevents_structured.json")
    mutate(event)
    with pytest.raises(NormalisationError) as caught:
        normalise_cloudevent(event)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("azure_metric_fired.json", "azure_monitor"),
        ("azure_service_health_fired.json", "azure_monitor"),
        ("prometheus_grouped_firing.json", "prometheus"),
        ("grafana_firing.json", "grafana"),
        ("cloudevents_structured.json", "cloudevents"),
        ("cloudevents_binary_data.json", "normalised"),
    ],
)
def test_ingest_guesses_the_webhook_of_every_fixture(name: str, source: str) -> None:
    assert guess_source(fixture(name)) == source
    route = ROUTES[source]
    assert builtin_registry().by_route(route) is not None
