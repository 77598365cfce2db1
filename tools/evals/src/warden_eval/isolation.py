"""Each scenario gets its own service names, so no state leaks between scenarios.

Policy rate limits, triage fingerprints and planner records are keyed by service; reusing
`checkout-api` in ten scenarios would let one scenario's restart throttle the next. Renaming every
service of the scenario's world (`checkout-api` -> `checkout-api-s07`) everywhere the scenario
mentions it keeps scenarios independent on one long-lived stack.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import yaml

from warden_eval.scenario import Scenario

RENAMED_FIELDS = ("faults", "alerts", "expect", "expect_llm", "llm")


def bundled_estate() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(resources.files("warden_sandbox").joinpath("estate.yaml").read_text())
    return raw


def isolated(scenario: Scenario, suffix: str) -> tuple[Scenario, dict[str, Any]]:
    """(the scenario with every service renamed, the estate to reset the sandbox to)."""
    estate = json.loads(json.dumps(scenario.world or bundled_estate()))
    names = {svc["name"]: f"{svc['name']}{suffix}" for svc in estate["services"]}
    for svc in estate["services"]:
        svc["name"] = names[svc["name"]]
        svc["dependencies"] = [names.get(d, d) for d in svc.get("dependencies", [])]
        svc.setdefault("owner", f"team-{svc['resource_group'].removeprefix('rg-')}")
    # Longest first, and whole names only: "cache" must not rename part of "cache-redis".
    pattern = re.compile(
        "|".join(rf"(?<![a-z0-9/-]){re.escape(n)}(?![a-z0-9-])" for n in sorted(names, key=len, reverse=True))
    )
    data = scenario.model_dump()
    renamed = {
        field: json.loads(pattern.sub(lambda m: names[m.group(0)], json.dumps(data[field]))) for field in RENAMED_FIELDS
    }
    return Scenario.model_validate({**data, **renamed, "world": estate}), estate
