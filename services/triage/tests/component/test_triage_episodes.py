"""Alert episodes on a real embedded NATS server: a firing after a Resolved one opens a new incident
for every source, and only a true re-delivery (same event) is a duplicate. CloudEvents are built and
encoded with the official `cloudevents` SDK, structured and binary, as a sender would."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from warden_bus.runtime import ServiceRuntime
from warden_testkit.bus import EmbeddedBroker
from warden_triage.app import create_app

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOKEN = "bearer-token"
INCIDENTS = "sre.incident.changed.v1"
ALERTS = "sre.alert.received.v1"
RESOURCE = "/subscriptions/0000/resourceGroups/rg-shop-dev/providers/Microsoft.App/containerApps/orders-worker"


@pytest.fixture
async def service(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    runtime: ServiceRuntime = create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("triage"),
        data_dir=tmp_path / "triage",
        webhook_token=TOKEN,
        http_port=0,
    )
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{runtime.bound_port}"
    finally:
        await runtime.stop()


def cloudevent(event_id: str, status: str, time: str) -> CloudEvent:
    return CloudEvent(
        {
            "id": event_id,
            "source": "//uptime.example.com/checks/orders-api",
            "type": f"com.example.uptime.alert.{status.lower()}",
            "specversion": "1.0",
            "subject": RESOURCE,
            "time": datetime.fromisoformat(time),
            "datacontenttype": "application/json",
        },
        {"rule": "Health check failing", "severity": "Sev1", "service": "orders-worker", "environment": "dev"},
    )


async def post(
    client: tuple[aiohttp.ClientSession, str], route: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    session, base = client
    async with session.post(
        f"{base}/webhooks/{route}", data=body, headers={"Authorization": f"Bearer {TOKEN}", **headers}
    ) as resp:
        return resp.status, await resp.json()


async def send_event(client: tuple[aiohttp.ClientSession, str], event: CloudEvent, *, binary: bool = False) -> Any:
    message = (to_binary if binary else to_structured)(event, JSONFormat())
    status, answer = await post(client, "cloudevents", message.body, dict(message.headers))
    assert status == 202, answer
    return answer


def incident_story(found: list[Any]) -> list[tuple[str, str]]:
    return [(e.data["change"], e.data["incident_id"]) for e in found]


async def test_cloudevents_refire_after_resolved_opens_a_new_episode(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    first = await send_event(service, cloudevent("evt-1", "fired", "2026-11-15T13:05:00Z"))
    retried = await send_event(service, cloudevent("evt-1", "fired", "2026-11-15T13:05:00Z"), binary=True)
    assert retried["message_id"] == first["message_id"]  # same (source, id): the sender's retry
    again = await send_event(service, cloudevent("evt-2", "fired", "2026-11-15T13:06:00Z"))
    assert again["message_id"] != first["message_id"]  # a repeat of a firing alert: same incident
    await send_event(service, cloudevent("evt-3", "resolved", "2026-11-15T13:20:00Z"), binary=True)
    refired = await send_event(service, cloudevent("evt-4", "fired", "2026-11-15T14:00:00Z"))
    assert refired["message_id"] not in {first["message_id"], again["message_id"]}

    found = await broker.wait_for(INCIDENTS, count=3)
    story = incident_story(found)
    assert [change for change, _ in story] == ["opened", "resolved", "opened"]
    assert story[0][1] == story[1][1] != story[2][1]
    alerts = await broker.wait_for(ALERTS, count=4)  # every distinct event reaches audit; the retry does not
    assert len({a.id for a in alerts}) == 4


async def _fired_resolved_refired(
    broker: EmbeddedBroker,
    client: tuple[aiohttp.ClientSession, str],
    route: str,
    bodies: list[dict[str, Any]],
) -> None:
    for body in bodies:
        status, answer = await post(client, route, json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert status == 202, answer
    found = await broker.wait_for(INCIDENTS, count=3)
    story = incident_story(found)
    assert [change for change, _ in story] == ["opened", "resolved", "opened"]
    assert story[0][1] == story[1][1] != story[2][1]


async def test_azure_monitor_refire_with_the_same_alert_id_opens_a_new_episode(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    fired = json.loads((FIXTURES / "azure_metric_fired.json").read_text())
    resolved = json.loads((FIXTURES / "azure_metric_resolved.json").read_text())
    refired = copy.deepcopy(fired)
    refired["data"]["essentials"]["firedDateTime"] = "2026-11-15T11:30:00.0000000Z"
    await _fired_resolved_refired(broker, service, "azure-monitor", [fired, fired, resolved, refired])


async def test_alertmanager_refire_after_resolved_opens_a_new_episode(
    broker: EmbeddedBroker, service: tuple[aiohttp.ClientSession, str]
) -> None:
    fired = json.loads((FIXTURES / "prometheus_grouped_firing.json").read_text())
    fired["alerts"] = fired["alerts"][:1]
    resolved = copy.deepcopy(fired)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-15T10:30:00.000Z"
    refired = copy.deepcopy(fired)
    refired["alerts"][0]["startsAt"] = "2026-11-15T11:00:00.000Z"
    await _fired_resolved_refired(broker, service, "prometheus", [fired, fired, resolved, refired])
