"""The sandbox TargetProvider against a local aiohttp server speaking the documented API."""

from __future__ import annotations

import pytest
from aiohttp import web
from warden_executor.adapters.sandbox_http import SandboxTargetProvider
from warden_executor.domain.model import TargetActionFailed, TargetNotFound, TargetUnavailable

TOKEN = "jwt-for-team/checkout"


@pytest.fixture
async def sandbox(kit):
    services = {"team/checkout": kit.healthy_view("team/checkout", memory_pct=91.0)}
    seen: list[dict] = []

    async def get_service(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in services:
            return web.json_response({"error": f"unknown service {name}"}, status=404)
        return web.json_response(services[name])

    async def act(request: web.Request) -> web.Response:
        name, kind = request.match_info["name"], request.match_info["kind"]
        seen.append(
            {"path": request.raw_path, "auth": request.headers.get("Authorization"), "body": await request.json()}
        )
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "token expired"}, status=401)
        if name not in services:
            return web.Response(status=404, text=f"unknown service {name}")
        if kind != "scale_service":
            return web.Response(status=422, text=f"unsupported kind {kind}")
        before = dict(services[name])
        services[name]["replicas"] = (await request.json())["params"]["replicas"]
        return web.json_response({"before": before, "after": services[name]})

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503, text="sandbox is restarting")

    app = web.Application()
    app.add_routes(
        [
            web.get("/v1/services/broken", broken),
            web.get("/v1/services/{name}", get_service),
            web.post("/v1/services/{name}/actions/{kind}", act),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    provider = SandboxTargetProvider(f"http://127.0.0.1:{port}/")
    yield provider, seen
    await provider.close()
    await runner.cleanup()


async def test_observe_reads_the_service_view(sandbox):
    provider, _ = sandbox

    view = await provider.observe("team/checkout")

    assert view["name"] == "team/checkout" and view["memory_pct"] == 91.0


async def test_observe_unknown_and_broken(sandbox):
    provider, _ = sandbox

    with pytest.raises(TargetNotFound, match="unknown service ghost"):
        await provider.observe("ghost")
    with pytest.raises(TargetUnavailable, match="HTTP 503: sandbox is restarting"):
        await provider.observe("broken")


async def test_act_forwards_the_grant_token_and_returns_before_and_after(sandbox, kit):
    provider, seen = sandbox
    grant = kit.grant()
    grant = type(grant)(grant.grant_id, grant.principal, grant.expires_at, {"sandbox_token": TOKEN})

    result = await provider.act("scale_service", "team/checkout", {"replicas": 5}, grant)

    assert result.before["replicas"] == 2 and result.after["replicas"] == 5
    assert seen == [
        {
            "path": "/v1/services/team%2Fcheckout/actions/scale_service",
            "auth": f"Bearer {TOKEN}",
            "body": {"params": {"replicas": 5}},
        }
    ]


async def test_act_raises_with_the_servers_error_text(sandbox, kit):
    provider, seen = sandbox
    valid = type(kit.grant())("g", "executor", kit.START, {"sandbox_token": TOKEN})

    with pytest.raises(TargetActionFailed, match="HTTP 401: token expired"):
        await provider.act("scale_service", "team/checkout", {"replicas": 5}, kit.grant())
    with pytest.raises(TargetActionFailed, match="HTTP 422: unsupported kind restart_service"):
        await provider.act("restart_service", "team/checkout", {}, valid)
    with pytest.raises(TargetActionFailed, match="carries no sandbox write token"):
        await provider.act("scale_service", "team/checkout", {}, type(valid)("g", "executor", kit.START, {}))
    assert len(seen) == 2


async def test_unreachable_sandbox_is_unavailable(kit):
    provider = SandboxTargetProvider("http://127.0.0.1:9", timeout_s=2)
    try:
        with pytest.raises(TargetUnavailable):
            await provider.observe("checkout")
        with pytest.raises(TargetActionFailed):
            await provider.act("restart_service", "checkout", {}, kit.grant())
    finally:
        await provider.close()
