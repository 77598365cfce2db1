"""The observability loop with real tools: a memory leak injected into the sandbox shows in its
Prometheus exposition, a real Prometheus evaluates the shipped rules, a real Alertmanager posts
the alert to triage's Alertmanager webhook (bearer token from the receiver snippet), the planner
investigates through its PromQL templates against that Prometheus, policy applies the Autonomous
dev plan, the executor restarts and verifies, and Alertmanager's resolved notification closes
the incident."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from warden_audit.reader import read_records
from warden_bus.embedded_server import free_port
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.operations import inject_fault
from warden_cli.timeline import IncidentView, incidents_from, render
from warden_testkit.prometheus import (
    SANDBOX_RULES,
    Alertmanager,
    Prometheus,
    alertmanager_config,
    missing_binaries,
    prometheus_config,
    sandbox_scrape_job,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(missing_binaries()), reason=str(missing_binaries()))]

FAST_ROUTE = {"group_wait": "1s", "group_interval": "1s"}
SERVICE = "checkout-api"  # dev: the shipped memory-pressure-nonprod plan is Autonomous


def incident(layout: Layout) -> IncidentView | None:
    views = [v for v in incidents_from(read_records(layout.audit_dir)).values() if v.service == SERVICE]
    return views[0] if views else None


def closed(view: IncidentView) -> bool:
    released = [d for d in view.of_type("sre.elevation.changed.v1") if d["state"] == "deactivated"]
    return bool(view.reports("verified")) and view.state == "resolved" and bool(released)


async def wait_closed(layout: Layout, timeout_s: float) -> IncidentView:
    deadline = time.monotonic() + timeout_s
    view = None
    while time.monotonic() < deadline:
        view = incident(layout)
        if view is not None and closed(view):
            return view
        if view is not None and view.of_type("sre.escalation.raised.v1"):
            raise AssertionError(f"escalated instead of fixed:\n{render(view)}")
        await asyncio.sleep(0.25)
    story = render(view) if view else "no incident"
    raise AssertionError(f"not verified and resolved within {timeout_s:.0f}s:\n{story}")


def planner_queries(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["params"]["query"] for line in log.read_text().splitlines() if line.strip()]


async def test_sandbox_fault_to_verified_restart_through_prometheus_and_alertmanager(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "stack")
    prometheus = Prometheus(root=tmp_path / "prometheus", port=free_port())
    alertmanager = Alertmanager(root=tmp_path / "alertmanager")
    query_log = tmp_path / "prometheus" / "queries.jsonl"
    options = StackOptions(
        tick_s=1.0,
        health_timeout_s=120,  # a loaded 2-core CI machine
        extra_env={
            # Alerts come from Prometheus only: the sandbox's own Azure-Monitor-style monitor is off.
            "sandbox": {"WARDEN_ALERT_WEBHOOK_URL": ""},
            "planner": {"WARDEN_PROMETHEUS_URL": prometheus.url},
        },
    )
    stack = EmbeddedStack(layout, options)
    try:
        await stack.start()
        # What a user pastes: the receiver `warden connect alertmanager` prints for this stack
        # (token by file), with the route's waits shortened for the test.
        printed = subprocess.run(
            [sys.executable, "-m", "warden_cli", "connect", "alertmanager", "--data-dir", str(layout.root)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        snippet = yaml.safe_load(printed)
        [receiver] = snippet["receivers"]
        [hook] = receiver["webhook_configs"]
        assert hook["url"] == f"http://127.0.0.1:{stack.processes['triage'].port}/webhooks/prometheus"
        assert hook["send_resolved"] and hook["http_config"]["authorization"]["type"] == "Bearer"
        await alertmanager.start(alertmanager_config(receiver) | {"route": {**snippet["route"], **FAST_ROUTE}})
        services = [{"name": SERVICE, "environment": "dev"}]
        scrape = sandbox_scrape_job(stack.sandbox_url.removeprefix("http://"), services)
        config = prometheus_config(
            [scrape], rule_files=[SANDBOX_RULES], alertmanager=alertmanager.address, query_log=query_log
        )
        await prometheus.start(config)
        [target] = await prometheus.wait_for_targets(1)
        assert target["health"] == "up", target

        await inject_fault(layout, SERVICE, "memory_leak")
        view = await wait_closed(layout, 90)

        alerts = view.of_type("sre.alert.received.v1")
        assert {a["source_kind"] for a in alerts} == {"prometheus"}
        assert {a["rule"] for a in alerts} == {"HighMemoryUsage"}
        assert {a["status"] for a in alerts} >= {"Fired", "Resolved"}  # Alertmanager's send_resolved
        assert view.incident_class == "memory_pressure" and view.environment == "dev"
        assert not view.of_type("sre.approval.requested.v1")  # Autonomous: nobody was asked
        [verified] = view.reports("verified")
        assert verified["kind"] == "restart_service"
        [plan] = view.of_type("sre.plan.proposed.v1")
        # The planner read the metrics through its PromQL templates from this Prometheus.
        queries = planner_queries(query_log)
        assert any(f'container_memory_working_set_bytes{{service="{SERVICE}"}}' in q for q in queries), queries
        assert any(f'up{{service="{SERVICE}"}}' in q for q in queries), queries
        assert plan["actions"][0]["kind"] == "restart_service"
        # The KPIs of that incident, as gauges on the audit service's /metrics.
        async with httpx.AsyncClient(timeout=5.0) as http:
            audit = (await http.get(f"http://127.0.0.1:{stack.processes['audit'].port}/metrics")).text
        kpis = {
            s.name: s.value
            for f in text_string_to_metric_families(audit)
            for s in f.samples
            if s.name.startswith("warden_kpi_") and s.labels.get("window") == "24h"
        }
        assert kpis["warden_kpi_incidents"] == 1 and kpis["warden_kpi_autonomous_share"] == 1.0, kpis
        assert 0 < kpis["warden_kpi_time_to_mitigate_seconds"] < 90, kpis
        firing = [a for a in await alertmanager.alerts() if a["labels"].get("service") == SERVICE]
        assert all(a["status"]["state"] != "active" for a in firing)
    finally:
        await prometheus.stop()
        await alertmanager.stop()
        await stack.stop()
