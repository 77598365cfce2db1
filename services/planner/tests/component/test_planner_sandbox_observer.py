"""The sandbox Observer adapter against a local aiohttp server speaking the documented read API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from warden_planner.adapters.sandbox_observer import SandboxObserver
from warden_planner.domain.observer import ObserverError

VIEW = {
    "name": "team/checkout",
    "environment": "dev",
    "resource_group": "rg",
    "resource_id": "/r/x",
    "replicas": 2,
    "version": "v2",
    "previous_version": "v1",
    "healthy": 1,
    "memory_pct": 82.5,
    "error_rate": 0.01,
    "latency_ms": 120,
    "queue_depth": 0,
    "disk_pct": 40,
    "cert_days_left": 90,
    "restarts": 0,
    "faults": [],
    "dependencies": ["payments"],
}


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def service(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        name = request.match_info["name"]
        if name == "slow":
            await asyncio.sleep(2)
        if name == "broken":
            return web.Response(status=500, text="sandbox exploded")
        if name == "garbled":
            return web.Response(text="<html>not json</html>")
        if name != "team/checkout":
            return web.json_response({"error": "unknown service"}, status=404)
        return web.json_response(VIEW)

    async def deployments(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response(
            {
                "deployments": [
                    {"version": "v1", "at": "2026-11-05T10:00:00Z", "by": "ci"},
                    {"version": "v2", "at": "2026-11-05T11:30:00Z", "by": "ci"},
                ]
            }
        )

    async def logs(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        limit = int(request.query["limit"])
        return web.json_response({"lines": [f"line {i}" for i in range(10)][-limit:]})

    app = web.Application()
    app.add_routes(
        [
            web.get("/v1/services/{name}", service),
            web.get("/v1/services/{name}/deployments", deployments),
            web.get("/v1/services/{name}/logs", logs),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def test_reads_service_deployments_and_logs_with_names_quoted(sandbox: tuple[str, list[str]]) -> None:
    url, seen = sandbox
    observer = SandboxObserver(url, timeout_s=1.0)
    try:
        view = await observer.get_service("team/checkout")
        history = await observer.get_deployments("team/checkout")
        lines = await observer.get_logs("team/checkout", 3)
    finally:
        await observer.close()
    assert view["memory_pct"] == 82.5 and view["dependencies"] == ["payments"]
    assert [d["version"] for d in history] == ["v1", "v2"]
    assert lines == ["line 7", "line 8", "line 9"]
    assert seen == [
        "/v1/services/team%2Fcheckout",
        "/v1/services/team%2Fcheckout/deployments",
        "/v1/services/team%2Fcheckout/logs?limit=3",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ghost", "unknown to the sandbox"),
        ("broken", "HTTP 500: sandbox exploded"),
        ("garbled", "did not answer JSON"),
        ("slow", "timed out"),
    ],
)
async def test_failures_are_clear_observer_errors(sandbox: tuple[str, list[str]], name: str, message: str) -> None:
    observer = SandboxObserver(sandbox[0], timeout_s=0.3)
    try:
        with pytest.raises(ObserverError, match=message):
            await observer.get_service(name)
    finally:
        await observer.close()


async def test_unreachable_sandbox_and_bad_limit_are_observer_errors() -> None:
    observer = SandboxObserver("http://127.0.0.1:9", timeout_s=0.5)
    try:
        with pytest.raises(ObserverError, match="failed"):
            await observer.get_service("checkout")
        with pytest.raises(ObserverError, match="positive integer"):
            await observer.get_logs("checkout", 0)
    finally:
        await observer.close()
