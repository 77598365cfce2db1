"""The sandbox's Prometheus exposition: parsable text with HELP/TYPE, values that follow the world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from warden_sandbox.adapters.prometheus_exposition import DISK_SIZE_BYTES, MEMORY_LIMIT_BYTES
from warden_sandbox.app import SandboxApp, create_app

ADMIN = {"X-Sandbox-Admin": "adm1n-secret"}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[SandboxApp]:
    # Ticks only when the test calls tick(): values are then exact.
    sandbox = create_app(data_dir=tmp_path / "data", sandbox_admin_secret="adm1n-secret", sandbox_tick_s=3600)
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


async def scrape(http: aiohttp.ClientSession, query: str = "") -> tuple[int, str, str]:
    async with http.get(f"/metrics{query}") as resp:
        return resp.status, resp.headers["Content-Type"], await resp.text()


def samples(text: str) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def one(found: dict[str, list[Sample]], name: str, service: str, **labels: str) -> float:
    [match] = [
        s.value for s in found[name] if s.labels["service"] == service and labels.items() <= s.labels.items()
    ]
    return match


async def test_every_service_is_exposed_with_help_type_and_identity_labels(
    app: SandboxApp, http: aiohttp.ClientSession
) -> None:
    status, content_type, text = await scrape(http)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = {
        "container_memory_working_set_bytes": "gauge",
        "container_spec_memory_limit_bytes": "gauge",
        "http_requests": "counter",
        "http_request_duration_seconds": "histogram",
        "queue_messages_ready": "gauge",
        "node_filesystem_avail_bytes": "gauge",
        "node_filesystem_size_bytes": "gauge",
        "probe_ssl_earliest_cert_expiry": "gauge",
        "kube_pod_container_status_restarts": "counter",
        "kube_deployment_status_replicas_available": "gauge",
    }
    assert {name: families[name].type for name in expected} == expected
    assert all(families[name].documentation for name in expected)
    assert "# HELP container_memory_working_set_bytes " in text and "# TYPE http_requests_total counter" in text
    names = {v["name"] for v in app.world.views()}
    for family in families.values():
        assert {s.labels["service"] for s in family.samples} == names
        assert all(s.labels["environment"] for s in family.samples)
    found = samples(text)
    for view in app.world.views():
        name = view["name"]
        memory = one(found, "container_memory_working_set_bytes", name)
        assert memory == pytest.approx(view["memory_pct"] / 100 * MEMORY_LIMIT_BYTES)
        assert one(found, "node_filesystem_avail_bytes", name) == pytest.approx(
            (1 - view["disk_pct"] / 100) * DISK_SIZE_BYTES
        )
        assert one(found, "kube_deployment_status_replicas_available", name, deployment=name) == view["replicas"]


async def test_traffic_counters_follow_the_simulated_error_rate_and_latency(
    app: SandboxApp, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        "/v1/admin/faults", json={"service": "checkout-api", "kind": "bad_deploy", "version": "v9.9.9"}, headers=ADMIN
    ) as resp:
        assert resp.status == 201
    for _ in range(5):
        app._last_tick -= 1.0  # one simulated second of traffic per tick, whatever the test's speed
        await app.tick()
    found = samples((await scrape(http))[2])
    view = app.world.get("checkout-api").view()
    errors = one(found, "http_requests_total", "checkout-api", code="500")
    ok = one(found, "http_requests_total", "checkout-api", code="200")
    assert 0.15 < errors / (errors + ok) < 0.35  # bad_deploy drives about 25 % errors
    total = one(found, "http_request_duration_seconds_count", "checkout-api")
    assert total == pytest.approx(errors + ok, abs=2)
    # 95 % of requests within the p95: the bucket just above the latency holds at least that.
    buckets = {
        float(s.labels["le"]): s.value
        for s in found["http_request_duration_seconds_bucket"]
        if s.labels["service"] == "checkout-api"
    }
    above = min(b for b in buckets if b >= view["latency_ms"] / 1000)
    below = max(b for b in buckets if b < view["latency_ms"] / 1000)
    assert buckets[above] >= 0.9 * total and buckets[below] < 0.95 * total
    healthy = one(found, "http_requests_total", "payments-api", code="500")
    assert healthy < 0.02 * one(found, "http_requests_total", "payments-api", code="200")


async def test_one_service_per_target_and_a_down_service_fails_its_scrape(
    app: SandboxApp, http: aiohttp.ClientSession
) -> None:
    status, _, text = await scrape(http, "?service=kube-system/coredns")
    assert status == 200
    assert {s.labels["service"] for f in text_string_to_metric_families(text) for s in f.samples} == {
        "kube-system/coredns"
    }
    assert (await scrape(http, "?service=nope"))[0] == 404
    async with http.post("/v1/admin/faults", json={"service": "orders-worker", "kind": "crash_loop"}, headers=ADMIN):
        pass
    await app.tick()
    assert (await scrape(http, "?service=orders-worker"))[0] == 503
    restarts = one(samples((await scrape(http))[2]), "kube_pod_container_status_restarts_total", "orders-worker")
    assert restarts >= 1
