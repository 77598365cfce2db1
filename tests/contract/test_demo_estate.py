"""The bundled demo estate (warden_estate/demo.yaml) is the one source of the demo world: the files
each service ships as its default are exactly what the estate derives, so they cannot drift."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from warden_estate import derive, load_estate


def _shipped(package: str, *parts: str) -> Any:
    return yaml.safe_load(resources.files(package).joinpath(*parts).read_text())


ESTATE = load_estate(Path(str(resources.files("warden_estate").joinpath("demo.yaml"))))


def test_the_triage_catalog_is_the_estates() -> None:
    assert derive.triage_catalog(ESTATE) == _shipped("warden_triage", "service_catalog.yaml")


def test_the_policy_plans_and_approvers_are_the_estates() -> None:
    assert derive.response_plans(ESTATE) == _shipped("warden_policy", "config", "response_plans.yaml")
    assert derive.approvers(ESTATE) == _shipped("warden_policy", "config", "approvers.yaml")


def test_the_scheduler_tasks_are_the_estates() -> None:
    assert derive.scheduler_tasks(ESTATE) == _shipped("warden_scheduler", "tasks.yaml")


def test_the_sandbox_world_is_the_estates_apart_from_owners() -> None:
    """Owners come from the estate now; the shipped file lets the sandbox default them."""
    derived = derive.sandbox_estate(ESTATE)
    shipped = _shipped("warden_sandbox", "estate.yaml")
    assert derived["subscription_id"] == shipped["subscription_id"]
    by_name = {s["name"]: s for s in shipped["services"]}
    assert set(by_name) == {s["name"] for s in derived["services"]}
    for svc in derived["services"]:
        svc.pop("owner")
        want = {"provider": "Microsoft.Web/sites", "dependencies": [], **by_name[svc["name"]]}
        if "resource_id" not in want:
            # The shipped file lets the sandbox build the id; the estate states it: the same id.
            leaf = svc["name"].rsplit("/", 1)[-1]
            built = f"/subscriptions/{shipped['subscription_id']}/resourceGroups/{want['resource_group']}"
            assert svc.pop("resource_id") == f"{built}/providers/{want['provider']}/{leaf}"
        assert svc == want
