"""What evaluation scenarios rely on: estate reset, dependency health, owners, misleading faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from warden_sandbox.app import SandboxApp, create_app

ADMIN = {"X-Sandbox-Admin": "adm1n-secret"}
SUB = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[SandboxApp]:
    # Ticks only when a test calls app.tick(): every state change is the test's doing.
    sandbox = create_app(data_dir=tmp_path / "data", sandbox_admin_secret="adm1n-secret", sandbox_tick_s=3600)
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


async def _call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, path, **kw) as resp:
        return resp.status, await resp.json()


async def test_service_view_names_its_owner(http: aiohttp.ClientSession) -> None:
    status, body = await _call(http, "GET", "/v1/services/checkout-api")
    assert status == 200 and body["owner"] == "team-shop-dev"


async def test_dependencies_report_both_directions_with_health(http: aiohttp.ClientSession) -> None:
    status, body = await _call(http, "GET", "/v1/services/cache-redis/dependencies")
    assert status == 200 and body["dependencies"] == []
    callers = {d["name"]: d for d in body["dependents"]}
    assert set(callers) == {"checkout-api", "orders-worker"}
    assert callers["orders-worker"]["healthy"] == 1 and callers["orders-worker"]["last_deployed_at"]
    status, body = await _call(http, "GET", "/v1/services/kube-system%2Fcoredns/dependencies")
    assert status == 200 and body == {"dependencies": [], "dependents": []}
    status, _ = await _call(http, "GET", "/v1/services/nope/dependencies")
    assert status == 404


async def test_error_burst_ends_when_its_cause_is_rolled_back(app: SandboxApp, http: aiohttp.ClientSession) -> None:
    await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "orders-worker", "kind": "bad_deploy", "version": "v1.9.0"},
        headers=ADMIN,
    )
    status, body = await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "cache-redis", "kind": "error_burst", "percent": 30, "caused_by": "orders-worker"},
        headers=ADMIN,
    )
    assert status == 201 and body["params"] == {"percent": 30, "caused_by": "orders-worker", "cause_version": "v1.9.0"}
    await app.tick()
    assert app.world.get("cache-redis").error_rate >= 0.25
    assert app.world.get("cache-redis").fault("error_burst") is not None
    app.world.rollback_deployment("orders-worker", "v1.8.2", now=datetime.now(UTC))
    await app.tick()
    assert app.world.get("cache-redis").fault("error_burst") is None
    assert any("client error storm from orders-worker stopped" in line for line in app.world.get("cache-redis").logs)


async def test_a_clean_deploy_is_an_event_whose_storm_ends_on_rollback(
    app: SandboxApp, http: aiohttp.ClientSession
) -> None:
    status, _ = await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "orders-worker", "kind": "deploy", "version": "v1.9.0"},
        headers=ADMIN,
    )
    assert status == 201 and app.world.get("orders-worker").faults == []
    assert app.world.get("orders-worker").version == "v1.9.0"
    await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "cache-redis", "kind": "error_burst", "caused_by": "orders-worker"},
        headers=ADMIN,
    )
    await app.tick()
    assert app.world.get("orders-worker").error_rate < 0.05 and app.world.get("cache-redis").error_rate >= 0.15
    _, deps = await _call(http, "GET", "/v1/services/cache-redis/dependencies")
    [caller] = [d for d in deps["dependents"] if d["name"] == "orders-worker"]
    assert caller["version"] == "v1.9.0"
    app.world.rollback_deployment("orders-worker", "v1.8.2", now=datetime.now(UTC))
    await app.tick()
    assert app.world.get("cache-redis").fault("error_burst") is None


async def test_error_burst_refuses_an_unknown_cause(http: aiohttp.ClientSession) -> None:
    status, body = await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "cache-redis", "kind": "error_burst", "caused_by": "ghost"},
        headers=ADMIN,
    )
    assert status == 422 and "caused_by" in body["details"][0]


async def test_reset_replaces_the_estate_and_resolves_open_alerts(app: SandboxApp, http: aiohttp.ClientSession) -> None:
    await _call(http, "POST", "/v1/admin/faults", json={"service": "checkout-api", "kind": "crash_loop"}, headers=ADMIN)
    await app.tick()
    assert ("checkout-api", "health_check") in app.monitor.open
    estate = {
        "subscription_id": SUB,
        "services": [
            {
                "name": "ingest-worker",
                "environment": "dev",
                "resource_group": "rg-ingest",
                "version": "v4.0.1",
                "replicas": 6,
            }
        ],
    }
    status, body = await _call(http, "POST", "/v1/admin/reset", json={"estate": estate, "seed": 3}, headers=ADMIN)
    assert status == 200 and body == {"services": ["ingest-worker"], "resolved_alerts": 1}
    assert app.monitor.open == {}
    assert [h["condition"] for h in app.monitor.history][-1] == "Resolved"
    status, _ = await _call(http, "GET", "/v1/services/checkout-api")
    assert status == 404
    status, view = await _call(http, "GET", "/v1/services/ingest-worker")
    assert status == 200 and view["replicas"] == 6 and view["owner"] == "team-ingest"


async def test_reset_without_estate_restores_the_configured_one(app: SandboxApp, http: aiohttp.ClientSession) -> None:
    await _call(
        http,
        "POST",
        "/v1/admin/faults",
        json={"service": "payments-api", "kind": "bad_deploy", "version": "v3.2.0"},
        headers=ADMIN,
    )
    status, body = await _call(http, "POST", "/v1/admin/reset", headers=ADMIN)
    assert status == 200 and "payments-api" in body["services"]
    status, view = await _call(http, "GET", "/v1/services/payments-api")
    assert view["version"] == "v3.1.0" and app.world.get("payments-api").faults == []


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({}, {}, 403),
        ({"estate": {"subscription_id": SUB, "services": []}}, ADMIN, 422),
        ({"estate": {"services": [{"name": "Bad Name!"}]}}, ADMIN, 422),
        ({"seed": "seven"}, ADMIN, 422),
    ],
    ids=["no-admin", "empty-estate", "invalid-estate", "bad-seed"],
)
async def test_reset_refuses_bad_requests_and_keeps_the_world(
    app: SandboxApp, http: aiohttp.ClientSession, body: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    before = set(app.world.services)
    answer, _ = await _call(http, "POST", "/v1/admin/reset", json=body, headers=headers)
    assert answer == status and set(app.world.services) == before
