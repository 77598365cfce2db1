"""Remediations that need nobody, for fault tests: a queue backlog on a few dev services of the
sandbox, which the shipped catalog fixes by one tier-1 scale-out under an autonomous response plan.
Each fault is therefore exactly one approved action, one `started` and one `verified` report, and
one "scaled from" line in the sandbox's log of that service: anything done twice shows."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import aiohttp
import yaml


def estate(path: Path, services: tuple[str, ...]) -> Path:
    entries = [
        {
            "name": name,
            "environment": "dev",
            "resource_group": "rg-fault",
            "provider": "Microsoft.App/containerApps",
            "version": "v1.0.0",
            "previous_version": "v0.9.0",
            "replicas": 2,
            "dependencies": [],
            "cert_days_left": 160,
            "baseline": {"queue_depth": 20},
        }
        for name in services
    ]
    path.write_text(yaml.safe_dump({"subscription_id": "00000000-0000-0000-0000-000000000000", "services": entries}))
    return path


def service_catalog(path: Path, services: tuple[str, ...]) -> Path:
    """Triage knows the services (an unmapped one is handed to a human at once)."""
    entries = [
        {"name": name, "environment": "dev", "owner": "team-fault", "commander_channel": "#inc-fault"}
        for name in services
    ]
    path.write_text(yaml.safe_dump({"services": entries}))
    return path


def autonomous_policy_config(folder: Path) -> Path:
    """The shipped plans, with queue backlogs in dev made autonomous."""
    shipped = resources.files("warden_policy").joinpath("config")
    plans = yaml.safe_load(shipped.joinpath("response_plans.yaml").read_text())
    plans["response_plans"].insert(
        0,
        {
            "name": "fault-test-queue-backlog-dev",
            "match": {"incident_classes": ["queue_backlog"], "environments": ["dev"]},
            "run_mode": "autonomous",
        },
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "response_plans.yaml").write_text(yaml.safe_dump(plans, sort_keys=False))
    (folder / "approvers.yaml").write_text(shipped.joinpath("approvers.yaml").read_text())
    return folder


def extra_env(tmp: Path, services: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Per-service settings that wire the three files above into a stack (`StackOptions.extra_env`)."""
    return {
        "sandbox": {"WARDEN_SANDBOX_ESTATE": str(estate(tmp / "estate.yaml", services))},
        "policy": {"WARDEN_POLICY_CONFIG_DIR": str(autonomous_policy_config(tmp / "policy-config"))},
        "triage": {"WARDEN_SERVICE_CATALOG": str(service_catalog(tmp / "service-catalog.yaml", services))},
    }


async def inject_backlog(sandbox_url: str, admin_secret: str, service: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sandbox_url}/v1/admin/faults",
            json={"service": service, "kind": "queue_backlog", "required_replicas": 4},
            headers={"X-Sandbox-Admin": admin_secret},
        ) as resp,
    ):
        if resp.status >= 300:
            raise RuntimeError(f"sandbox refused the fault: {resp.status} {await resp.text()}")


async def scale_outs(sandbox_url: str, service: str) -> int:
    """How many times the sandbox scaled `service` (its log lines say "scaled from")."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox_url}/v1/services/{service}/logs", params={"limit": "1000"}) as resp,
    ):
        body = await resp.json()
    return sum(" scaled from " in line for line in body["lines"])
