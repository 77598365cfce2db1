"""Prometheus (PromQL over HTTP) and Azure Monitor (KQL via azure-monitor-query) Observers,
through their real clients against local doubles of the documented wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from azure.core.credentials import AccessToken, AccessTokenInfo
from warden_planner.adapters.azure_monitor_observer import AzureMonitorObserver
from warden_planner.adapters.composite_observer import CompositeObserver
from warden_planner.adapters.prometheus_observer import PrometheusMetrics
from warden_planner.domain.observer import ObserverError
from warden_testkit.planner import InMemoryObserver

WORKSPACE = "11111111-2222-3333-4444-555555555555"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def prometheus() -> AsyncIterator[tuple[str, list[str]]]:
    """`GET /api/v1/query`: an instant vector per metric name found in the query; `up` is absent."""
    seen: list[str] = []
    samples = {
        "container_memory_working_set_bytes": "91.5",
        "http_requests_total": "0.2",
        "queue_messages_ready": "NaN",
    }

    async def query(request: web.Request) -> web.Response:
        promql = request.query["query"]
        seen.append(promql)
        if "syntax error" in promql:
            return web.json_response({"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400)
        metric = next((m for m in samples if promql.startswith(("max(" + m, "sum(rate(" + m, "sum(" + m))), None)
        result = [{"metric": {"service": "checkout"}, "value": [1700000000.0, samples[metric]]}] if metric else []
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner, url = await serve(app)
    yield url, seen
    await runner.cleanup()


async def test_prometheus_renders_templates_and_reads_instant_vectors(prometheus: tuple[str, list[str]]) -> None:
    url, seen = prometheus
    metrics = PrometheusMetrics(url)
    try:
        view = await metrics.get_service("checkout")
    finally:
        await metrics.close()
    assert view["memory_pct"] == 91.5 and view["error_rate"] == 0.2
    assert "queue_depth" not in view and "healthy" not in view  # NaN and no sample: left out, never guessed
    assert all('service="checkout"' in q or 'deployment="checkout"' in q for q in seen)


@pytest.mark.parametrize("name", ['checkout"} or vector(1) #', "checkout\n", "../x", "", "A" * 70])
async def test_prometheus_refuses_parameters_that_could_change_the_query(
    prometheus: tuple[str, list[str]], name: str
) -> None:
    url, seen = prometheus
    metrics = PrometheusMetrics(url)
    try:
        with pytest.raises(ObserverError, match="not a valid query parameter"):
            await metrics.get_service(name)
    finally:
        await metrics.close()
    assert seen == []


async def test_prometheus_errors_are_observer_errors(prometheus: tuple[str, list[str]]) -> None:
    url, _ = prometheus
    metrics = PrometheusMetrics(url, templates={"memory_pct": "syntax error $service"})
    try:
        with pytest.raises(ObserverError, match="refused the query \\(400\\): parse error"):
            await metrics.get_service("checkout")
    finally:
        await metrics.close()
    unreachable = PrometheusMetrics("http://127.0.0.1:9", timeout_s=2)
    try:
        with pytest.raises(ObserverError, match="query failed"):
            await unreachable.get_service("checkout")
    finally:
        await unreachable.close()


class StaticCredential:
    """An Entra token source (the managed identity's stand-in): the SDK asks, we answer."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("mi-token", 4102444800)

    async def get_token_info(self, *scopes: str, **_: Any) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo("mi-token", 4102444800)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


TABLES = {
    "AppRequests": ([("error_rate", "real"), ("latency_ms", "real"), ("name", "string")], [[0.31, 420.0, "checkout"]]),
    "AzureActivity": (
        [("version", "string"), ("at", "datetime"), ("by", "string")],
        [["v1.3.2", "2026-11-01T10:00:00Z", "ci"], ["v1.4.0", "2026-11-21T09:50:00Z", "ci"]],
    ),
    "AppTraces": ([("line", "string")], [["newest"], ["older"]]),
    "AppDependencies": (
        [("direction", "string"), ("name", "string"), ("error_rate", "real"), ("healthy", "int")],
        [["dependencies", "cache", 0.9, 0], ["dependents", "web", 0.0, 1]],
    ),
    "ServiceCatalog_CL": ([("owner", "string")], [["team-checkout"]]),
}


@pytest.fixture
async def log_analytics() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """`POST /v1/workspaces/{id}/query` answering the documented tables shape."""
    seen: list[dict[str, Any]] = []

    async def query(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"auth": request.headers.get("Authorization"), "workspace": request.match_info["ws"], **body})
        table = next(t for t in TABLES if t in body["query"])
        columns, rows = TABLES[table]
        return web.json_response(
            {
                "tables": [
                    {"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns], "rows": rows}
                ]
            }
        )

    app = web.Application()
    app.router.add_post("/v1/workspaces/{ws}/query", query)
    runner, url = await serve(app)
    yield url, seen
    await runner.cleanup()


async def test_azure_monitor_runs_kql_templates_through_the_sdk(
    log_analytics: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = log_analytics
    credential = StaticCredential()
    observer = AzureMonitorObserver(
        credential, WORKSPACE, endpoint=f"{url}/v1", request_options={"enforce_https": False}
    )
    try:
        view = await observer.get_service("checkout")
        deployments = await observer.get_deployments("checkout")
        logs = await observer.get_logs("checkout", 2)
        around = await observer.get_dependencies("checkout")
        owner = await observer.get_owner("checkout")
        with pytest.raises(ObserverError, match="limit"):
            await observer.get_logs("checkout", 10_000)
    finally:
        await observer.close()
    assert view["error_rate"] == 0.31 and view["source"] == "azure_monitor"
    assert [d["version"] for d in deployments] == ["v1.3.2", "v1.4.0"] and deployments[1]["at"].startswith("2026-11-21")
    assert logs == ["older", "newest"]
    assert around == {
        "dependencies": [{"name": "cache", "error_rate": 0.9, "healthy": 0}],
        "dependents": [{"name": "web", "error_rate": 0.0, "healthy": 1}],
    }
    assert owner == {"service": "checkout", "owner": "team-checkout"}
    assert all(s["auth"] == "Bearer mi-token" and s["workspace"] == WORKSPACE for s in seen)
    assert all('let svc = "checkout";' in s["query"] for s in seen) and "top 2 by" in seen[2]["query"]
    # The SDK asks the identity for a token scoped to the workspace endpoint's audience.
    assert set(credential.scopes) == {(f"{url}/.default",)}


async def test_composite_takes_metrics_from_prometheus_and_the_rest_from_the_base(
    prometheus: tuple[str, list[str]],
) -> None:
    url, _ = prometheus
    base = InMemoryObserver(
        {"checkout": {"name": "checkout", "memory_pct": 10.0, "replicas": 2, "owner": "team-a"}},
        {"checkout": [{"version": "v1", "at": "2026-11-21T00:00:00Z", "by": "ci"}]},
    )
    metrics = PrometheusMetrics(url)
    try:
        observer = CompositeObserver(base, metrics)
        view = await observer.get_service("checkout")
        assert view["memory_pct"] == 91.5 and view["replicas"] == 2
        assert (await observer.get_owner("checkout"))["owner"] == "team-a"
        assert len(await observer.get_deployments("checkout")) == 1
    finally:
        await metrics.close()
