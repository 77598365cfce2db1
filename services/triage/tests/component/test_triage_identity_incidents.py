"""Real-shaped payloads through the incident tracker and the SQLite store: a pod storm is one
incident on its workload, and an unmapped resource opens an `unknown` incident that says how to
map it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from warden_contracts.events import IncidentChanged
from warden_triage.adapters.catalog_file import load_catalog
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.sqlite_store import SqliteIncidentStore
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.correlation import Correlator
from warden_triage.domain.incidents import IncidentTracker
from warden_triage.domain.unmapped import UNMAPPED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def payload(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def _run(tmp_path: Path, catalog: ServiceCatalog, route: str, body: Any) -> list[IncidentChanged]:
    registry, classifier = builtin_registry(), load_classifier()
    store = SqliteIncidentStore(tmp_path / "triage.db")
    await store.open()
    tracker = IncidentTracker(store, classifier, registry, correlator=Correlator(catalog, classifier, registry))
    source = registry.by_route(route)
    assert source is not None
    changes = []
    try:
        for i, alert in enumerate(source.normalise(body)):
            change = await tracker.apply(alert, f"msg-{i}")
            if change is not None:
                changes.append(change)
    finally:
        await store.close()
    return changes


async def test_a_pod_storm_of_one_deployment_is_one_incident_on_that_workload(tmp_path: Path) -> None:
    catalog = ServiceCatalog.from_document(
        {
            "services": [
                {
                    "name": "checkout-api",
                    "environment": "dev",
                    "owner": "team-shop",
                    "commander_channel": "#shop",
                    "kubernetes": [{"namespace": "shop", "workload": "checkout-api"}],
                }
            ]
        }
    )
    changes = await _run(tmp_path, catalog, "prometheus", payload("alertmanager_k8s_pod_storm.json"))
    assert {c.incident_id for c in changes} and len({c.incident_id for c in changes}) == 1
    opened = changes[0]
    assert (opened.service, opened.environment, opened.owner) == ("checkout-api", "dev", "team-shop")
    assert changes[-1].alert_count == 4 and opened.notes == []


async def test_an_unmapped_pod_storm_is_still_one_incident_named_after_its_workload(tmp_path: Path) -> None:
    changes = await _run(tmp_path, ServiceCatalog(), "prometheus", payload("alertmanager_k8s_pod_storm.json"))
    assert len({c.incident_id for c in changes}) == 1
    assert changes[0].service == "shop/checkout-api" and changes[0].environment == "unknown"
    assert changes[0].notes and changes[0].notes[0].startswith(UNMAPPED)


async def test_an_unmapped_azure_resource_is_unknown_and_says_how_to_map_it(tmp_path: Path) -> None:
    # The shipped demo catalog does not know this VM: before issue 14 it was labelled dev.
    [opened] = await _run(tmp_path, load_catalog(), "azure-monitor", payload("azure_metric_unmapped_vm_fired.json"))
    assert opened.environment == "unknown" and opened.owner is None
    [note] = opened.notes
    snippet = yaml.safe_load(note.split("\n", 1)[1])
    assert snippet["services"][0]["azure_resource_ids"] == [opened.resource_id]
    assert snippet["services"][0]["environment"] == "prod"  # the rg-billing-prod hint, for the human to confirm


async def test_a_mapped_demo_resource_carries_no_note(tmp_path: Path) -> None:
    body = payload("azure_metric_unmapped_vm_fired.json")
    target = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/RG-PAY-PROD"
        "/providers/microsoft.web/sites/PAYMENTS-API"
    )
    body["data"]["essentials"]["alertTargetIDs"] = [target]
    body["data"]["essentials"]["configurationItems"] = ["payments-api"]
    [opened] = await _run(tmp_path, load_catalog(), "azure-monitor", body)
    assert (opened.service, opened.environment, opened.notes) == ("payments-api", "prod", [])
