"""Identity from real-shaped payloads: which service and environment an alert is about.

Alertmanager/Grafana: explicit `service` label, else the Kubernetes workload qualified by
namespace; Azure: resource id (case-insensitive) through the estate; anything unmapped stays
`unknown` (never dev) and its incident carries the warden.yaml snippet that would map it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from warden_contracts.catalog import default_catalog
from warden_triage.domain.alertmanager import AlertmanagerSource, GrafanaSource
from warden_triage.domain.azure_monitor import normalise_azure_monitor
from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.cloudevents_alert import normalise_cloudevent
from warden_triage.domain.kubernetes import pod_owner, service_of
from warden_triage.domain.naming import environment_hint
from warden_triage.domain.unmapped import UNMAPPED, unmapped_note

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VM = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg-billing-prod"
    "/providers/microsoft.compute/virtualmachines/vm-billing-01"
)

CATALOG = ServiceCatalog.from_document(
    {
        "services": [
            {
                "name": "checkout-api",
                "environment": "dev",
                "owner": "team-shop",
                "commander_channel": "#shop",
                "kubernetes": [{"namespace": "shop", "workload": "checkout-api"}],
            },
            {
                "name": "payments-api",
                "environment": "prod",
                "owner": "team-payments",
                "commander_channel": "#pay",
                "kubernetes": [{"cluster": "aks-prod", "namespace": "payments", "workload": "payments-api"}],
            },
            {
                "name": "billing-vm",
                "environment": "prod",
                "owner": "team-billing",
                "commander_channel": "#billing",
                "resource_ids": [VM.upper()],
            },
            {
                "name": "ledger",
                "environment": "staging",
                "owner": "team-ledger",
                "commander_channel": "#ledger",
                "match_labels": [{"job": "ledger", "team": "ledger"}],
            },
        ]
    }
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("pod", "owner"),
    [
        ("checkout-api-7d9f8b6c4-x2x9z", "checkout-api"),  # Deployment: ReplicaSet hash + pod hash
        ("redis-0", "redis"),  # StatefulSet ordinal
        ("kafka-12", "kafka"),
        ("node-exporter-zx8kq", "node-exporter"),  # DaemonSet pod hash
        ("standalone", "standalone"),
        ("api-v2", "api-v2"),  # not a generated suffix: kept
    ],
)
def test_pod_names_lose_their_generated_suffixes(pod: str, owner: str) -> None:
    assert pod_owner(pod) == owner


def test_explicit_service_label_wins_unless_it_names_the_scrape_target() -> None:
    assert service_of({"service": "checkout", "namespace": "shop", "pod": "checkout-api-7d9f8b6c4-x2x9z"}) == "checkout"
    scraped = {"service": "prometheus-kube-state-metrics", "endpoint": "http", "namespace": "shop", "pod": "web-0"}
    assert service_of(scraped) == "shop/web"
    exporter = {"service": "prometheus-kube-state-metrics", "endpoint": "http"}
    assert service_of(exporter) == "prometheus-kube-state-metrics"  # no workload: the label is all there is


def test_workload_labels_beat_the_pod_and_are_qualified_by_namespace() -> None:
    assert service_of({"namespace": "shop", "statefulset": "db", "pod": "db-2"}) == "shop/db"
    assert service_of({"namespace": "ops", "daemonset": "agent"}) == "ops/agent"
    assert service_of({"namespace": "shop", "replicaset": "web-7d9f8b6c4"}) == "shop/web"
    assert service_of({"container": "checkout", "job": "node"}) is None  # neither names a service


def test_a_storm_of_pod_alerts_names_one_workload_not_kube_state_metrics() -> None:
    alerts = AlertmanagerSource().normalise(fixture("alertmanager_k8s_pod_storm.json"))
    assert len(alerts) == 4 and len({a.alert_id for a in alerts}) == 4
    assert {a.service for a in alerts} == {"shop/checkout-api"}
    assert {a.environment for a in alerts} == {"unknown"}
    assert {CATALOG.lookup(a).name for a in alerts} == {"checkout-api"}  # type: ignore[union-attr]


def test_kube_system_workloads_are_qualified_and_meet_the_do_not_touch_list() -> None:
    [alert] = AlertmanagerSource().normalise(fixture("alertmanager_kube_system_deployment.json"))
    assert alert.service == "kube-system/coredns"
    assert default_catalog().target_denied(alert.service)


def test_grafana_unified_alert_maps_through_the_workload_on_its_cluster() -> None:
    [alert] = GrafanaSource().normalise(fixture("grafana_unified_k8s_firing.json"))
    assert alert.service == "payments/payments-api"
    assert CATALOG.lookup(alert) is None  # the estate pins that workload to cluster aks-prod
    labelled = alert.model_copy(update={"labels": {**alert.labels, "cluster": "aks-prod"}})
    assert CATALOG.lookup(labelled).name == "payments-api"  # type: ignore[union-attr]


def test_label_matchers_map_alerts_to_services() -> None:
    [alert] = GrafanaSource().normalise(fixture("grafana_unified_k8s_firing.json"))
    matched = alert.model_copy(update={"labels": {"job": "ledger", "team": "ledger", "x": "y"}})
    assert CATALOG.lookup(matched).name == "ledger"  # type: ignore[union-attr]
    partial = alert.model_copy(update={"labels": {"job": "ledger"}, "service": None})
    assert CATALOG.lookup(partial) is None


def test_azure_resource_ids_map_case_insensitively_and_unmapped_ones_stay_unknown() -> None:
    alert = normalise_azure_monitor(fixture("azure_metric_unmapped_vm_fired.json"))
    assert alert.environment == "unknown"  # nothing states it: never dev
    assert CATALOG.lookup(alert).name == "billing-vm"  # type: ignore[union-attr]
    assert ServiceCatalog().lookup(alert) is None


def test_a_same_named_resource_elsewhere_is_not_the_estates_service() -> None:
    alert = normalise_azure_monitor(fixture("azure_metric_unmapped_vm_fired.json"))
    other = alert.model_copy(
        update={"resource_id": VM.replace("11111111", "99999999"), "service": "billing-vm", "environment": "unknown"}
    )
    assert CATALOG.lookup(other) is None


def test_cloudevents_without_an_environment_are_unknown() -> None:
    alert = normalise_cloudevent(fixture("cloudevents_unmapped_health.json"))
    assert alert.environment == "unknown" and alert.service == "billing-portal"
    assert ServiceCatalog().lookup(alert) is None


@pytest.mark.parametrize(
    ("resource_id", "hint"),
    [
        (VM, "prod"),
        ("/subscriptions/s/resourceGroups/rg-shop-stg/providers/Microsoft.Web/sites/api", "staging"),
        ("/subscriptions/s/resourceGroups/rg-shop-dev/providers/Microsoft.Web/sites/api-prod", "prod"),
        ("/subscriptions/s/resourceGroups/rg-shop/providers/Microsoft.Web/sites/api", None),
    ],
)
def test_naming_conventions_only_hint_and_the_strictest_wins(resource_id: str, hint: str | None) -> None:
    assert environment_hint(resource_id) == hint


def _snippet(note: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(note.split("\n", 1)[1])
    return loaded


def test_the_unmapped_note_carries_a_pasteable_azure_snippet() -> None:
    note = unmapped_note("vm-billing-01", "unknown", VM)
    assert note.startswith(UNMAPPED)
    [svc] = _snippet(note)["services"]
    assert svc == {
        "name": "vm-billing-01",
        "environment": "prod",
        "owner": "<team that is paged>",
        "azure_resource_ids": [VM],
    }


def test_the_unmapped_note_for_a_workload_claims_the_namespace_and_workload() -> None:
    [svc] = _snippet(unmapped_note("shop/checkout-api", "unknown", "10.244.1.17:8080"))["services"]
    assert svc["name"] == "checkout-api"
    assert svc["kubernetes"] == [{"namespace": "shop", "workload": "checkout-api"}]
    [system] = _snippet(unmapped_note("kube-system/coredns", "unknown", "x"))["services"]
    assert system["name"] == "kube-system/coredns"
