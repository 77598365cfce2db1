"""Triage's service catalog for an eval run: the bundled estate's, plus every scenario's renamed world.

Scenarios rename their services (`checkout-api` -> `checkout-api-s07`, see isolation.py); a triage
that did not know those names would mark every eval incident "unmapped resource", which is not what
a user with their own warden.yaml sees. Services no world simulates (an unmapped Azure resource, a
stray workload) stay unknown, so the unmapped path is still what those scenarios exercise.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from warden_cli.estate_wiring import demo_estate_path
from warden_estate import derive, load_estate


def eval_catalog(worlds: Iterable[dict[str, Any]]) -> dict[str, Any]:
    base = derive.triage_catalog(load_estate(demo_estate_path()))
    services = {str(s["name"]): s for s in base["services"]}
    for world in worlds:
        for svc in world.get("services", []):
            owner = str(svc.get("owner") or "team-eval")
            services[str(svc["name"])] = {
                "name": str(svc["name"]),
                "environment": str(svc["environment"]),
                "owner": owner,
                "commander_channel": f"#inc-{owner.removeprefix('team-')}",
                "dependencies": [str(d) for d in svc.get("dependencies", [])],
            }
    return {"services": list(services.values()), "correlation": base.get("correlation", {})}


def write_eval_catalog(path: Path, worlds: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(eval_catalog(worlds), sort_keys=False))
    return path
