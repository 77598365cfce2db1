"""Triage knows every renamed eval world (else each eval incident would read "unmapped"), and
nothing more: the unmapped scenario's resource stays unmapped."""

from __future__ import annotations

from pathlib import Path

from warden_eval.isolation import isolated
from warden_eval.scenario import load_scenarios
from warden_eval.triage_catalog import eval_catalog
from warden_triage.domain.catalog import ServiceCatalog

SCENARIOS = Path(__file__).resolve().parents[3] / "evals" / "scenarios"


def test_the_eval_catalog_maps_each_world_and_not_the_unmapped_resource() -> None:
    runs = [isolated(s, f"-s{n:02d}")[0] for n, s in enumerate(load_scenarios(SCENARIOS), 1)]
    catalog = ServiceCatalog.from_document(eval_catalog(r.world or {} for r in runs))
    for run in runs:
        for svc in (run.world or {})["services"]:
            assert catalog.maps(svc["name"], svc["environment"]), (run.name, svc["name"])
    unmapped = next(r for r in runs if r.name == "i14-azure-unmapped-resource")
    assert not catalog.maps(unmapped.expect.service, "unknown")
    assert not any(catalog.maps(unmapped.expect.service, env) for env in ("dev", "staging", "prod"))
