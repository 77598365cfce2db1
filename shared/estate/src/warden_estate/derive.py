"""The estate as the documents each service already reads, so services stay independent of it.

Each function returns plain data in the shape of the existing file (the sandbox's estate, the
triage service catalog, the policy's response_plans.yaml, approvers.yaml and services.yaml, the scheduler's
tasks). `warden_cli.estate_wiring` writes them under the data directory and points the
services' existing settings at them.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from warden_estate.schema import ANY, Estate, Service

_RESOURCE_GROUP = re.compile(r"/resourcegroups/([^/]+)", re.IGNORECASE)


def _resource_group(svc: Service) -> str:
    if svc.simulation.resource_group:
        return svc.simulation.resource_group
    for rid in (svc.simulation.resource_id, *svc.azure_resource_ids):
        match = _RESOURCE_GROUP.search(rid or "")
        if match:
            return match.group(1)
    return f"rg-{svc.environment}"


def commander_channel(svc: Service) -> str:
    return svc.commander_channel or f"#inc-{svc.owner.removeprefix('team-')}"


def sandbox_estate(estate: Estate) -> dict[str, Any]:
    """The sandbox simulates every service of the estate, so the Observer never meets a 404."""
    services = []
    for svc in estate.services:
        sim = svc.simulation
        entry: dict[str, Any] = {
            "name": svc.name,
            "environment": svc.environment,
            "resource_group": _resource_group(svc),
            "provider": sim.provider,
            "version": sim.version,
            "replicas": sim.replicas,
            "dependencies": list(svc.dependencies),
            "owner": svc.owner,
            "cert_days_left": sim.cert_days_left,
        }
        resource_id = sim.resource_id or (svc.azure_resource_ids[0] if svc.azure_resource_ids else None)
        if resource_id:
            entry["resource_id"] = resource_id
        if sim.previous_version:
            entry["previous_version"] = sim.previous_version
        if sim.baseline:
            entry["baseline"] = dict(sim.baseline)
        services.append(entry)
    return {"subscription_id": estate.observers.sandbox.subscription_id, "services": services}


def triage_catalog(estate: Estate) -> dict[str, Any]:
    services = []
    for svc in estate.services:
        entry: dict[str, Any] = {
            "name": svc.name,
            "environment": svc.environment,
            "owner": svc.owner,
            "commander_channel": commander_channel(svc),
            "dependencies": list(svc.dependencies),
            "resource_ids": list(svc.azure_resource_ids),
        }
        if svc.kubernetes:
            entry["kubernetes"] = [k.model_dump(exclude_none=True) for k in svc.kubernetes]
        if svc.match_labels:
            entry["match_labels"] = [dict(m) for m in svc.match_labels]
        services.append(entry)
    return {"services": services, "correlation": estate.correlation.model_dump(exclude_none=True)}


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M:%S") if value.second else value.strftime("%H:%M")


def response_plans(estate: Estate) -> dict[str, Any]:
    plans = []
    for plan in estate.response_plans:
        match: dict[str, Any] = {
            "incident_classes": list(plan.match.incident_classes),
            "environments": list(plan.match.environments),
        }
        if plan.match.services != [ANY]:
            match["services"] = list(plan.match.services)
        entry: dict[str, Any] = {"name": plan.name, "match": match, "run_mode": plan.run_mode}
        if plan.approval_timeout_s:
            entry["approval_timeout_s"] = plan.approval_timeout_s
        plans.append(entry)
    tasks = []
    for task in estate.scheduled_tasks:
        item: dict[str, Any] = {"name": task.name}
        if task.read_only:
            item["read_only"] = True
        if task.run_mode:
            item["run_mode"] = task.run_mode
        if task.approval_timeout_s:
            item["approval_timeout_s"] = task.approval_timeout_s
        tasks.append(item)
    windows = {
        env: [{"days": list(w.days), "start": _hhmm(w.start), "end": _hhmm(w.end)} for w in items]
        for env, items in estate.change_windows.items()
    }
    return {
        "agent": estate.agent.model_dump(),
        "response_plans": plans,
        "scheduled_tasks": tasks,
        "change_windows": windows,
    }


def policy_services(estate: Estate) -> dict[str, Any]:
    """Policy's inventory: it places each action's target by this, not by the plan (an unmapped
    target is `unknown`, never the dev an alert may claim)."""
    return {"services": [{"name": svc.name, "environment": svc.environment} for svc in estate.services]}


def approvers(estate: Estate) -> dict[str, Any]:
    return {"users": [{"name": u.name, "groups": list(u.groups)} for u in estate.approvers.users]}


def scheduler_tasks(estate: Estate) -> dict[str, Any]:
    tasks = []
    for task in estate.scheduled_tasks:
        params = dict(task.params)
        if task.services != [ANY]:
            params["services"] = list(task.services)
        entry: dict[str, Any] = {"name": task.name, "cron": task.cron, "kind": task.kind}
        if task.description:
            entry["description"] = task.description
        if not task.read_only:
            entry["read_only"] = False
        if not task.enabled:
            entry["enabled"] = False
        if params:
            entry["params"] = params
        tasks.append(entry)
    return {"tasks": tasks}


def planner_settings(estate: Estate) -> dict[str, str]:
    """Environment for the planner's observers (its settings are WARDEN_-prefixed)."""
    obs, env = estate.observers, {}
    if obs.prometheus:
        env["WARDEN_PROMETHEUS_URL"] = obs.prometheus.url
    if obs.azure_monitor and not obs.sandbox.enabled:
        env["WARDEN_OBSERVER_BACKEND"] = "azure_monitor"
        env["WARDEN_AZURE_MONITOR_WORKSPACE_ID"] = obs.azure_monitor.workspace_id
        if obs.azure_monitor.endpoint:
            env["WARDEN_AZURE_MONITOR_ENDPOINT"] = obs.azure_monitor.endpoint
    return env
