"""Prometheus, Grafana and CloudEvents webhooks on a real embedded NATS server, with their auth."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import Envelope
from warden_testkit.bus import EmbeddedBroker
from warden_triage.adapters.webhook_auth import sign
from warden_triage.app import create_app

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOKEN = "bearer-token"
GRAFANA_SECRET = "grafana-shared-secret-0123456789"
INCIDENTS = "sre.incident.changed.v1"
DEADLETTERS = "sre.deadletter.v1"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def triage(broker: EmbeddedBroker, tmp_path: Path, **settings: Any) -> ServiceRuntime:
    """Triage on the embedded broker with the test token, on a free port, and `settings`."""
    return create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("triage"),
        data_dir=tmp_path / "triage",
        webhook_token=TOKEN,
        http_port=0,
        **settings,
    )


@pytest.fixture
async def service(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    runtime = triage(broker, tmp_path, webhook_hmac_secrets={"grafana": GRAFANA_SECRET}, webhook_max_inflight=2)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{runtime.bound_port}"
    finally:
        await runtime.stop()


async def post(
    client: tuple[aiohttp.ClientSession, str], route: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Any]:
    session, base = client
    sent = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"} if headers is None else headers
    async with session.post(f"{base}/webhooks/{route}", data=body, headers=sent) as resp:
        return resp.status, dict(resp.headers), await resp.json()


def signed(body: bytes, secret: str = GRAFANA_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Content-Type": "application/json",
        "X-Warden-Timestamp": str(stamp),
        "X-Warden-Signature": "sha256=" + sign(secret, stamp, body),
    }


def changes(envelopes: list[Envelope]) -> list[tuple[str, str]]:
    return [(e.data["change"], e.data["incident_class"]) for e in envelopes]


async def test_prometheus_group_opens_one_incident_and_resolves_it(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    status, _, body = await post(service, "prometheus", fixture("prometheus_grouped_firing.json"))
    assert status == 202 and len(body["accepted"]) == 2
    found = await broker.wait_for(INCIDENTS, count=2)
    assert changes(found) == [("opened", "crash_loop"), ("updated", "crash_loop")]
    assert found[1].data["alert_count"] == 2 and found[0].data["environment"] == "prod"

    status, _, _ = await post(service, "prometheus", fixture("prometheus_grouped_firing.json"))
    assert status == 202  # Alertmanager re-sends the group every repeat_interval: no new incident
    status, _, _ = await post(service, "prometheus", fixture("prometheus_grouped_resolved.json"))
    assert status == 202
    found = await broker.wait_for(INCIDENTS, count=3)
    assert [c for c, _ in changes(found)] == ["opened", "updated", "resolved"]
    assert len({e.data["incident_id"] for e in found}) == 1


async def test_truncated_group_is_answered_and_counted(service: tuple[aiohttp.ClientSession, str]) -> None:
    status, _, body = await post(service, "prometheus", fixture("prometheus_truncated.json"))
    assert status == 202 and body["truncated_alerts"] == 7
    session, base = service
    async with session.get(f"{base}/metrics") as resp:
        assert 'warden_webhook_truncated_alerts_total{service="triage"} 7.0' in await resp.text()


async def test_grafana_requires_a_fresh_unique_hmac_signature(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    body = fixture("grafana_firing.json")
    status, headers, answer = await post(service, "grafana", body)  # the bearer token is not enough here
    assert status == 401 and "X-Warden-Signature" in headers["WWW-Authenticate"]
    assert (await post(service, "grafana", body, signed(body, secret="another-secret-0123456789")))[0] == 401
    stale = await post(service, "grafana", body, signed(body, at=int(time.time()) - 3600))
    assert stale[0] == 401 and "away from the server clock" in stale[2]["error"]
    tampered = signed(body)
    assert (await post(service, "grafana", body.replace(b"93%", b"12%"), tampered))[0] == 401

    good = signed(body)
    status, _, answer = await post(service, "grafana", body, good)
    assert status == 202 and answer["alert_id"].startswith("grafana:")
    replay = await post(service, "grafana", body, good)
    assert replay[0] == 401 and "replay" in replay[2]["error"]
    [opened] = await broker.wait_for(INCIDENTS)
    assert opened.data["incident_class"] == "disk_pressure"

    resolved = fixture("grafana_resolved.json")
    assert (await post(service, "grafana", resolved, signed(resolved)))[0] == 202
    found = await broker.wait_for(INCIDENTS, count=2)
    assert [c for c, _ in changes(found)] == ["opened", "resolved"]
    bad = b'{"version": "1", "alerts": "nope"}'
    status, _, answer = await post(service, "grafana", bad, signed(bad))
    assert status == 422 and answer["field"] == "alerts"
    letters = await broker.wait_for(DEADLETTERS)
    assert len(letters) == 1 and "HTTP 422" in letters[0].data["reason"]  # 401s are never stored


async def test_cloudevents_structured_and_binary(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/cloudevents+json"}
    status, _, fired = await post(service, "cloudevents", fixture("cloudevents_structured.json"), headers)
    assert status == 202
    [opened] = await broker.wait_for(INCIDENTS)
    assert opened.data["incident_class"] == "failed_health_checks"
    assert opened.data["service"] == "orders-worker"

    binary = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "//queues.example.com",
        "ce-type": "com.example.queue.alert",
        "ce-time": "2026-11-15T13:10:00Z",
    }
    status, _, answer = await post(service, "cloudevents", fixture("cloudevents_binary_data.json"), binary)
    assert status == 202, answer
    status, _, answer = await post(service, "cloudevents", b"{}", {**binary, "ce-specversion": "0.1"})
    assert status in {400, 422} and answer["error"]
    no_version = {k: v for k, v in binary.items() if k != "ce-specversion"}
    status, _, answer = await post(service, "cloudevents", b"{}", no_version)
    assert (status, answer["field"]) == (400, "ce-specversion")
    alerts = await broker.wait_for("sre.alert.received.v1", count=2)
    resolved = [e for e in alerts if e.data["status"] == "Resolved"]
    assert resolved and resolved[0].data["labels"]["ce_source"] == "//queues.example.com"
    assert fired["alert_id"] != resolved[0].data["alert_id"]


async def test_back_pressure_answers_429_with_retry_after(service: tuple[aiohttp.ClientSession, str]) -> None:
    _, base = service
    host, port = base.removeprefix("http://").split(":")
    body = fixture("prometheus_truncated.json")
    head = (
        f"POST /webhooks/prometheus HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    held = []
    for _ in range(2):  # two senders stuck mid-body occupy the gateway (max_inflight=2)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head + body[:10])
        await writer.drain()
        held.append((reader, writer))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:  # the server sees the held calls a moment after they were written
        status, answer_headers, answer = await post(service, "prometheus", body)
        if status == 429 or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert status == 429 and answer_headers["Retry-After"] == "1" and "retry later" in answer["error"]
    for reader, writer in held:
        writer.write(body[10:])
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 202")
        writer.close()
    assert (await post(service, "prometheus", body))[0] == 202


async def test_backlog_back_pressure_then_everything_accepted_is_handled(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # Refused at once: the hold is the next test's.
    runtime = triage(broker, tmp_path, webhook_max_backlog=1, webhook_backlog_hold_s=0)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = (session, f"http://127.0.0.1:{runtime.bound_port}")
            group = json.loads(fixture("prometheus_grouped_firing.json"))
            accepted, refused = 0, None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            episode = 0
            while refused is None and loop.time() < deadline:
                episode += 1  # a new episode each time: new alerts, never broker duplicates
                for item in group["alerts"]:
                    item["startsAt"] = f"2026-11-15T10:{episode // 60:02d}:{episode % 60:02d}Z"
                status, headers, body = await post(client, "prometheus", json.dumps(group).encode())
                if status == 429:
                    refused = (headers["Retry-After"], body["error"])
                else:
                    assert status == 202
                    accepted += 2
            assert refused is not None and refused[0] == "1" and "waiting for triage" in refused[1]
            alerts = await broker.wait_for("sre.alert.received.v1", count=accepted)
            assert len(alerts) == accepted
            handled, fates = 0, ("opened", "attached")
            while handled < accepted and loop.time() < deadline + 60:
                async with session.get(f"{client[1]}/metrics") as resp:
                    lines = (await resp.text()).splitlines()
                handled = sum(
                    int(float(line.rsplit(" ", 1)[1]))
                    for line in lines
                    if line.startswith(tuple(f'warden_alerts_total{{fate="{f}",service="triage"}}' for f in fates))
                )
                await asyncio.sleep(0.2)
            assert handled == accepted  # one incident, every accepted alert attached
    finally:
        await runtime.stop()


async def test_a_full_backlog_holds_calls_until_the_consumer_makes_room(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Back-pressure as a slower answer, not a refusal: with room for one group at a time,
    concurrent groups are all accepted (each held until the consumer has handled the one before)."""
    runtime = triage(broker, tmp_path, webhook_max_backlog=1, webhook_backlog_hold_s=30)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = (session, f"http://127.0.0.1:{runtime.bound_port}")
            bodies = []
            for episode in range(12):  # a new episode each: new alerts, never broker duplicates
                group = json.loads(fixture("prometheus_grouped_firing.json"))
                for item in group["alerts"]:
                    item["startsAt"] = f"2026-11-15T11:00:{episode:02d}Z"
                bodies.append(json.dumps(group).encode())
            answers = await asyncio.gather(*(post(client, "prometheus", b) for b in bodies))
            assert [status for status, _, _ in answers] == [202] * len(bodies)
            async with session.get(f"{client[1]}/metrics") as resp:
                metrics = await resp.text()
            held = next(line for line in metrics.splitlines() if line.startswith("warden_webhook_held_total"))
            assert float(held.rsplit(" ", 1)[1]) >= 1
            assert "warden_webhook_backlogged_total{" not in metrics  # nobody was refused
            alerts = await broker.wait_for("sre.alert.received.v1", count=2 * len(bodies))
            assert len(alerts) == 2 * len(bodies)
    finally:
        await runtime.stop()
