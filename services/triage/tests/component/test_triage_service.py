"""The triage service on a real embedded NATS server: webhook -> alert -> incident lifecycle."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import Envelope, derived_id
from warden_testkit.bus import EmbeddedBroker
from warden_triage.app import create_app

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOKEN = "t"
INCIDENTS = "sre.incident.changed.v1"
ALERTS = "sre.alert.received.v1"
DEADLETTERS = "sre.deadletter.v1"


def azure_alert(name: str, alert_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    if alert_id is not None:
        payload["data"]["essentials"]["alertId"] = alert_id
    return payload


def build(broker: EmbeddedBroker, data_dir: Path) -> ServiceRuntime:
    return create_app(
        nats_url=broker.url, nats_creds=broker.creds("triage"), data_dir=data_dir, webhook_token=TOKEN, http_port=0
    )


class Client:
    def __init__(self, session: aiohttp.ClientSession, runtime: ServiceRuntime) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{runtime.bound_port}"

    async def post(self, path: str, body: bytes | dict[str, Any], token: str | None = TOKEN) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.post(self.base + path, data=data, headers=headers) as response:
            return response.status, await response.json()

    async def metrics(self) -> str:
        async with self.session.get(self.base + "/metrics") as response:
            return await response.text()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def service(broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[Client]:
    runtime = build(broker, tmp_path / "triage")
    await runtime.start()
    try:
        yield Client(session, runtime)
    finally:
        await runtime.stop()


FIRED_AT = "2026-11-15T10:13:41.432765+00:00"  # azure_metric_*.json firedDateTime, to the microsecond


def change(kind: str) -> Any:
    return lambda e: e.data["change"] == kind


async def one(broker: EmbeddedBroker, kind: str, count: int = 1) -> list[Envelope]:
    found = await broker.wait_for(INCIDENTS, change(kind), count=count)
    assert len(found) >= count, f"expected {count} {kind!r} incident events, got {len(found)}"
    return found


async def test_fired_updated_duplicate_resolved(broker: EmbeddedBroker, service: Client) -> None:
    fired = azure_alert("azure_metric_fired.json")
    alert_id = fired["data"]["essentials"]["alertId"]
    status, body = await service.post("/webhooks/azure-monitor", fired)
    assert status == 202
    assert body["alert_id"] == alert_id
    assert body["message_id"] == derived_id(f"{alert_id}@{FIRED_AT}", "Fired")  # the episode: id + firing time

    [opened] = await one(broker, "opened")
    incident_id = opened.data["incident_id"]
    assert incident_id.startswith("inc-") and len(incident_id) == 16
    assert opened.correlationid == incident_id and opened.subject == incident_id
    assert opened.causationid == body["message_id"]
    assert opened.id == derived_id(body["message_id"], "incident-opened")
    assert opened.source == "warden/triage"
    assert opened.data["incident_class"] == "memory_pressure"
    assert (opened.data["service"], opened.data["environment"]) == ("checkout", "prod")
    assert opened.data["resource_group"] == "rg-shop-prod"

    [alert_env] = await broker.wait_for(ALERTS)
    assert alert_env.correlationid == f"alert:{alert_id}"
    assert alert_env.data["raw"] == fired

    again_status, again = await service.post("/webhooks/azure-monitor", fired)
    assert (again_status, again["message_id"]) == (202, body["message_id"])

    second = azure_alert("azure_metric_fired.json", alert_id=alert_id + "-second")
    assert (await service.post("/webhooks/azure-monitor", second))[0] == 202
    [updated] = await one(broker, "updated")
    assert updated.data["incident_id"] == incident_id
    assert updated.data["alert_count"] == 2
    assert updated.data["alert_ids"] == [alert_id, alert_id + "-second"]
    # Handled in order: by now the re-posted first alert was dropped or ignored, never a new incident.
    assert len(await broker.read_all(INCIDENTS)) == 2
    assert len(await broker.read_all(ALERTS)) == 2

    assert (await service.post("/webhooks/azure-monitor", azure_alert("azure_metric_resolved.json")))[0] == 202
    resolved_second = azure_alert("azure_metric_resolved.json", alert_id=alert_id + "-second")
    assert (await service.post("/webhooks/azure-monitor", resolved_second))[0] == 202
    [resolved] = await one(broker, "resolved")
    assert resolved.data["incident_id"] == incident_id
    assert resolved.correlationid == incident_id
    assert resolved.causationid == derived_id(f"{alert_id}-second@{FIRED_AT}", "Resolved")
    # Exactly one incident event per change: the first resolution only resolved an alert.
    assert [e.data["change"] for e in await broker.read_all(INCIDENTS)] == ["opened", "updated", "resolved"]


async def test_rejections_are_answered_and_dead_lettered(broker: EmbeddedBroker, service: Client) -> None:
    status, body = await service.post("/webhooks/azure-monitor", b'{"schemaId": ')
    assert status == 400 and "invalid JSON" in body["error"]

    bad = azure_alert("azure_metric_fired.json")
    bad["data"]["essentials"]["monitorCondition"] = "Acknowledged"
    status, body = await service.post("/webhooks/azure-monitor", bad)
    assert status == 422
    assert body["field"] == "data.essentials.monitorCondition"
    assert "Acknowledged" in body["error"]

    oversize = copy.deepcopy(bad)
    oversize["data"]["essentials"]["description"] = "x" * (256 * 1024)
    status, body = await service.post("/webhooks/azure-monitor", oversize)
    assert status == 413 and "262144" in body["error"]

    status, body = await service.post("/webhooks/azure-monitor", azure_alert("azure_metric_fired.json"), token="wrong")
    assert status == 401 and "error" in body
    status, _ = await service.post("/webhooks/alerts", {"junk": True}, token=None)
    assert status == 401

    status, body = await service.post("/webhooks/alerts", {"source_kind": "sandbox", "alert_id": "x"})
    assert status == 422 and body["field"] == "rule"

    letters = await broker.wait_for(DEADLETTERS, count=4)
    assert len(letters) == 4  # the 401s are never stored
    assert all(e.data["service"] == "triage" and e.data["topic"] == ALERTS for e in letters)
    reasons = sorted(e.data["reason"] for e in letters)
    assert any("HTTP 400" in r and "invalid JSON" in r for r in reasons)
    assert any("HTTP 422" in r and "data.essentials.monitorCondition" in r for r in reasons)
    assert any("HTTP 413" in r for r in reasons)
    assert any("HTTP 422" in r and "/webhooks/alerts" in r for r in reasons)
    by_status = {r.split("HTTP ")[1][:3]: e for e in letters for r in [e.data["reason"]]}
    assert by_status["400"].data["original_text"] == '{"schemaId": '
    assert by_status["413"].data["original_size"] > 256 * 1024
    assert len(by_status["413"].data["original_text"]) <= 4096

    metrics = await service.metrics()
    assert 'warden_webhook_unauthorized_total{service="triage"} 2.0' in metrics
    assert 'warden_webhook_rejected_total{service="triage",status="422"} 2.0' in metrics

    status, body = await service.post("/webhooks/azure-monitor", azure_alert("azure_log_search_fired.json"))
    assert status == 202
    [opened] = await one(broker, "opened")
    assert opened.data["incident_class"] == "elevated_error_rate"
    assert opened.data["service"] == "orders"


async def test_normalised_alerts_route(broker: EmbeddedBroker, service: Client) -> None:
    alert = {
        "source_kind": "sandbox",
        "alert_id": "sbx-1",
        "rule": "Queue backlog",
        "status": "Fired",
        "severity": "Sev2",
        "resource_id": "/subscriptions/s/resourceGroups/rg-shop/providers/x/sites/orders",
        "service": "orders",
        "resource_group": "rg-shop",
        "fired_at": "2026-11-15T10:00:00Z",
    }
    status, body = await service.post("/webhooks/alerts", alert)
    assert status == 202 and body["message_id"] == derived_id("sbx-1@2026-11-15T10:00:00+00:00", "Fired")
    [opened] = await one(broker, "opened")
    assert opened.data["incident_class"] == "queue_backlog"
    assert opened.data["title"] == "Queue backlog on orders"


async def test_incidents_survive_a_restart(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "triage"
    first = build(broker, data_dir)
    await first.start()
    try:
        status, _ = await Client(session, first).post("/webhooks/azure-monitor", azure_alert("azure_metric_fired.json"))
        assert status == 202
        [opened] = await one(broker, "opened")
    finally:
        await first.stop()
    assert (data_dir / "state" / "triage.db").exists()

    second = build(broker, data_dir)
    await second.start()
    try:
        client = Client(session, second)
        status, _ = await client.post("/webhooks/azure-monitor", azure_alert("azure_metric_resolved.json"))
        assert status == 202
        [resolved] = await one(broker, "resolved")
        assert resolved.data["incident_id"] == opened.data["incident_id"]
        assert resolved.data["opened_at"] == opened.data["opened_at"]
    finally:
        await second.stop()
    assert [e.data["change"] for e in await broker.read_all(INCIDENTS)] == ["opened", "resolved"]
