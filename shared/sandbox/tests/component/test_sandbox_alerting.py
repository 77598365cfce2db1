"""The monitor delivering common-schema alerts to a real local webhook receiver."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_sandbox.app import SandboxApp, create_app
from warden_security.keys import public_pem
from warden_security.tokens import ELEVATION_ISSUER, SANDBOX_AUDIENCE, TokenIssuer

ADMIN = {"X-Sandbox-Admin": "adm1n-secret"}
DEADLINE_S = 10.0


@dataclass
class Receiver:
    """A webhook that answers with scripted statuses (then 202) and records what it accepted."""

    statuses: list[int] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    auth: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.auth.append(request.headers.get("Authorization", ""))
        status = self.statuses.pop(0) if self.statuses else 202
        if status < 300:
            self.accepted.append(await request.json())
        return web.json_response({"status": status}, status=status)

    def conditions(self) -> list[tuple[str, str]]:
        return [
            (a["data"]["essentials"]["alertRule"], a["data"]["essentials"]["monitorCondition"]) for a in self.accepted
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/azure-monitor", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/azure-monitor"
    yield rec
    await runner.cleanup()


@pytest.fixture
def issuer_and_key(tmp_path: Path) -> tuple[TokenIssuer, Path]:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "elevation.pub.pem"
    path.write_bytes(public_pem(key.public_key()))
    return TokenIssuer(key, ELEVATION_ISSUER), path


async def _started(tmp_path: Path, pubkey: Path, url: str | None, tick_s: float = 3600) -> SandboxApp:
    app = create_app(
        data_dir=tmp_path / "data",
        sandbox_token_pubkey=pubkey,
        sandbox_admin_secret="adm1n-secret",
        alert_webhook_url=url,
        alert_webhook_token="hook-token",
        sandbox_tick_s=tick_s,
    )
    await app.start()
    return app


async def _until(check: Callable[[], bool], step: Callable[[], Awaitable[None]] | None = None) -> None:
    """Poll `check` (optionally driving `step` between polls) until it holds or the deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        assert loop.time() < deadline, "condition not reached before the deadline"
        if step is not None:
            await step()
        await asyncio.sleep(0.02)


async def _post(app: SandboxApp, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{app.port}{path}", json=body, headers=headers) as resp,
    ):
        return resp.status


async def test_fired_then_resolved_after_fix_via_api(
    tmp_path: Path, receiver: Receiver, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    issuer, pubkey = issuer_and_key
    app = await _started(tmp_path, pubkey, receiver.url)
    try:
        status = await _post(
            app, "/v1/admin/faults", {"service": "checkout-api", "kind": "bad_deploy", "version": "v2.4.1"}, ADMIN
        )
        assert status == 201
        await app.tick()
        await _until(lambda: len(receiver.accepted) == 1)
        assert receiver.conditions() == [("High HTTP 5xx rate", "Fired")]
        assert receiver.auth == ["Bearer hook-token"]

        token = issuer.issue("executor", SANDBOX_AUDIENCE, 60, targets=["checkout-api"])
        status = await _post(
            app,
            "/v1/services/checkout-api/actions/rollback_deployment",
            {"params": {"to_version": "v2.4.0"}},
            {"Authorization": f"Bearer {token}"},
        )
        assert status == 200
        await _until(lambda: len(receiver.accepted) == 2, step=app.tick)
        assert receiver.conditions() == [("High HTTP 5xx rate", "Fired"), ("High HTTP 5xx rate", "Resolved")]
        fired, resolved = (a["data"]["essentials"] for a in receiver.accepted)
        assert fired["alertId"] == resolved["alertId"]
        assert resolved["firedDateTime"] == fired["firedDateTime"]
        assert resolved["resolvedDateTime"] >= fired["firedDateTime"]
        assert not app.monitor.outbox
    finally:
        await app.stop()


async def test_unavailable_webhook_gets_the_alert_later_in_order(
    tmp_path: Path, receiver: Receiver, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    _, pubkey = issuer_and_key
    receiver.statuses = [503, 503]
    app = await _started(tmp_path, pubkey, receiver.url)
    try:
        await _post(app, "/v1/admin/faults", {"service": "web-frontend", "kind": "crash_loop"}, ADMIN)
        await app.tick()
        await _until(lambda: receiver.attempts >= 1)
        assert receiver.accepted == [] and len(app.monitor.outbox) == 1
        async with (
            aiohttp.ClientSession() as http,
            http.delete(f"http://127.0.0.1:{app.port}/v1/admin/faults?service=web-frontend", headers=ADMIN) as resp,
        ):
            assert resp.status == 200
        await _until(lambda: len(receiver.accepted) == 2, step=app.tick)
        assert receiver.conditions() == [("Health check failing", "Fired"), ("Health check failing", "Resolved")]
        assert receiver.attempts == 4
    finally:
        await app.stop()


async def test_pending_alert_survives_a_restart(
    tmp_path: Path, receiver: Receiver, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    _, pubkey = issuer_and_key
    receiver.statuses = [503]
    app = await _started(tmp_path, pubkey, receiver.url)
    await _post(app, "/v1/admin/faults", {"service": "cache-redis", "kind": "crash_loop"}, ADMIN)
    await app.tick()
    await _until(lambda: receiver.attempts == 1)
    await app.stop()
    assert receiver.accepted == []

    again = await _started(tmp_path, pubkey, receiver.url)
    try:
        # Restored outbox is flushed at start, without waiting for a tick.
        await _until(lambda: len(receiver.accepted) == 1)
        assert receiver.conditions() == [("Health check failing", "Fired")]
    finally:
        await again.stop()


async def test_rejected_alert_is_dropped_and_does_not_block(
    tmp_path: Path, receiver: Receiver, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    _, pubkey = issuer_and_key
    receiver.statuses = [400]
    app = await _started(tmp_path, pubkey, receiver.url)
    try:
        await _post(app, "/v1/admin/faults", {"service": "orders-worker", "kind": "crash_loop"}, ADMIN)
        await app.tick()
        await _until(lambda: receiver.attempts == 1 and not app.monitor.outbox)
        await _post(app, "/v1/admin/faults", {"service": "payments-api", "kind": "cert_expiring"}, ADMIN)
        await app.tick()
        await _until(lambda: len(receiver.accepted) == 1)
        assert receiver.conditions() == [("Certificate expiring", "Fired")]
    finally:
        await app.stop()


async def test_unreachable_webhook_keeps_alerts_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    _, pubkey = issuer_and_key
    with socket.socket() as probe:  # a port that was just free and now has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = await _started(tmp_path, pubkey, f"http://127.0.0.1:{port}/webhooks/azure-monitor")
    try:
        await _post(app, "/v1/admin/faults", {"service": "orders-worker", "kind": "crash_loop"}, ADMIN)
        await app.tick()
        await _until(lambda: sum("unreachable" in r.getMessage() for r in caplog.records) >= 1)
        await app.tick()
        await _until(lambda: sum("unreachable" in r.getMessage() for r in caplog.records) >= 2)
        assert [p["data"]["essentials"]["monitorCondition"] for p in app.monitor.outbox] == ["Fired"]
    finally:
        await app.stop()


async def test_background_loop_ticks_and_records_without_webhook(
    tmp_path: Path, issuer_and_key: tuple[TokenIssuer, Path]
) -> None:
    _, pubkey = issuer_and_key
    app = await _started(tmp_path, pubkey, None, tick_s=0.02)
    try:
        await _post(app, "/v1/admin/faults", {"service": "orders-worker", "kind": "queue_backlog"}, ADMIN)
        await _until(lambda: any(h["rule"] == "queue_backlog" for h in app.monitor.history))
        assert app.world.ticks >= 2
        assert not app.monitor.outbox
    finally:
        await app.stop()
