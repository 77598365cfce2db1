"""A real Prometheus scrapes every endpoint of the embedded stack: each Warden service's /metrics
and the sandbox's exposition of every simulated service. Every target must be healthy and every
metric family must come with HELP and TYPE, as Prometheus itself reports them (metadata API)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_testkit.prometheus import (
    Prometheus,
    missing_binaries,
    prometheus_config,
    sandbox_scrape_job,
    warden_scrape_jobs,
)

pytestmark = pytest.mark.skipif(bool(missing_binaries()), reason=str(missing_binaries()))

SANDBOX_FAMILIES = {
    "container_memory_working_set_bytes",
    "http_requests",
    "http_request_duration_seconds",
    "queue_messages_ready",
    "kube_pod_container_status_restarts",
    "kube_deployment_status_replicas_available",
    "probe_ssl_earliest_cert_expiry",
}


def families_without_help_or_type(text: str) -> list[str]:
    declared_help = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    declared_type = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    names = {f.name for f in text_string_to_metric_families(text)}
    # A counter family `x` is declared as `x_total` in the classic text format.
    return sorted(
        n
        for n in names
        if not ({n, f"{n}_total"} & declared_help) or not ({n, f"{n}_total"} & declared_type)
    )


async def test_prometheus_scrapes_every_service_and_every_simulated_service(tmp_path: Path) -> None:
    stack = EmbeddedStack(Layout(tmp_path / "stack"), StackOptions(tick_s=0.5))
    prometheus = Prometheus(root=tmp_path / "prometheus")
    try:
        await stack.start()
        warden = {name: f"127.0.0.1:{proc.port}" for name, proc in stack.processes.items() if name != "sandbox"}
        async with httpx.AsyncClient(timeout=5.0) as http:
            services = (await http.get(f"{stack.sandbox_url}/v1/services")).json()["services"]
            # Straight from each endpoint first: the text itself declares HELP and TYPE.
            for name, address in {**warden, "sandbox": stack.sandbox_url.removeprefix("http://")}.items():
                resp = await http.get(f"http://{address}/metrics")
                assert resp.status_code == 200, name
                assert resp.headers["content-type"].startswith("text/plain; version=0.0.4"), name
                assert families_without_help_or_type(resp.text) == [], name
        jobs = [*warden_scrape_jobs(warden), sandbox_scrape_job(stack.sandbox_url.removeprefix("http://"), services)]
        await prometheus.start(prometheus_config(jobs))
        targets = await prometheus.wait_for_targets(len(warden) + len(services))

        unhealthy = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
        assert unhealthy == []
        assert {t["labels"]["job"] for t in targets} == {f"warden-{n}" for n in warden} | {"warden-sandbox"}
        by_service = {t["labels"]["service"] for t in targets if t["labels"]["job"] == "warden-sandbox"}
        assert by_service == {s["name"] for s in services}

        # What Prometheus stored: process metrics and the HTTP latency histogram of every service
        # (its /healthz was polled by the launcher), and each simulated service's own series.
        for metric in ("process_resident_memory_bytes", "warden_http_request_duration_seconds_count"):
            jobs_seen = {r["metric"]["job"] for r in await prometheus.query(metric)}
            assert jobs_seen >= {f"warden-{n}" for n in warden}, metric
        memory = await prometheus.query("container_memory_working_set_bytes")
        assert {r["metric"]["service"] for r in memory} == by_service
        assert all(r["metric"]["environment"] for r in memory)
        up = await prometheus.query('up{job="warden-sandbox"}')
        assert {r["metric"]["service"]: r["value"][1] for r in up} == {s: "1" for s in by_service}

        metadata = await prometheus.api("metadata")
        for family in (*SANDBOX_FAMILIES, "warden_http_request_duration_seconds", "warden_handler_duration_seconds"):
            [entry, *_] = metadata.get(family) or metadata[f"{family}_total"]
            assert entry["type"] in {"counter", "gauge", "histogram"} and entry["help"], family
        assert metadata["warden_http_request_duration_seconds"][0]["type"] == "histogram"
        assert metadata["warden_kpi_incidents"][0]["type"] == "gauge"  # the audit service's KPIs
        kpi = await prometheus.query('warden_kpi_incidents{job="warden-audit",window="24h"}')
        assert [r["value"][1] for r in kpi] == ["0"]
        assert metadata["warden_handler_duration_seconds"][0]["type"] == "histogram"
    finally:
        await prometheus.stop()
        await stack.stop()
