"""Alerts held by an `open_after` threshold, on a real embedded NATS server: the periodic sweep
opens their incident once the wait is over with no further alert, also after a restart of the
service (held state is in the SQLite store), and publishes it exactly once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import Envelope, derived_id
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_triage.app import TriagePorts, create_app

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOKEN = "t"
INCIDENTS = "sre.incident.changed.v1"
# memory_pressure pages only after 5 alerts, or once the first has waited 10 minutes.
CATALOG = {"correlation": {"open_after": [{"incident_class": "memory_pressure", "alerts": 5, "minutes": 10}]}}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(CATALOG))
    return path


def build(broker: EmbeddedBroker, data_dir: Path, catalog: Path, clock: Clock) -> ServiceRuntime:
    return create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("triage"),
        data_dir=data_dir,
        webhook_token=TOKEN,
        http_port=0,
        service_catalog=catalog,
        held_sweep_interval_s=0.05,
        ports=TriagePorts(clock=clock),
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post_memory_alert(session: aiohttp.ClientSession, runtime: ServiceRuntime, alert_id: str) -> str:
    payload: dict[str, Any] = json.loads((FIXTURES / "azure_metric_fired.json").read_text())
    payload["data"]["essentials"]["alertId"] = alert_id
    url = f"http://127.0.0.1:{runtime.bound_port}/webhooks/azure-monitor"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with session.post(url, data=json.dumps(payload), headers=headers) as response:
        assert response.status == 202
        message_id: str = (await response.json())["message_id"]
    return message_id


def counted(runtime: ServiceRuntime, name: str) -> int:
    return runtime.counters.values.get(name, 0)


async def opened_events(broker: EmbeddedBroker) -> list[Envelope]:
    return [e for e in await broker.read_all(INCIDENTS) if e.data["change"] == "opened"]


async def test_a_single_held_alert_opens_its_incident_once_the_wait_is_over(
    broker: EmbeddedBroker, tmp_path: Path, catalog: Path, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    runtime = build(broker, tmp_path / "triage", catalog, clock)
    await runtime.start()
    try:
        message_id = await post_memory_alert(session, runtime, "held-1")
        await eventually(lambda: counted(runtime, "alerts_pending") == 1, what="the alert held")
        clock.now += timedelta(minutes=9, seconds=59)
        swept = counted(runtime, "held_sweeps")
        await eventually(lambda: counted(runtime, "held_sweeps") >= swept + 2, what="two sweeps within the wait")
        assert await opened_events(broker) == [] and counted(runtime, "held_groups_released") == 0
        clock.now += timedelta(seconds=1)
        [opened] = await broker.wait_for(INCIDENTS, lambda e: e.data["change"] == "opened")
        assert opened.data["alert_ids"] == ["held-1"] and opened.data["alert_count"] == 1
        assert opened.data["incident_class"] == "memory_pressure"
        assert opened.causationid == message_id
        assert opened.id == derived_id(message_id, "incident-opened-after-hold")
        await eventually(lambda: counted(runtime, "held_groups_released") == 1, what="the release counted")
        # The next alert of the group joins the incident instead of being held again.
        await post_memory_alert(session, runtime, "held-2")
        [updated] = await broker.wait_for(INCIDENTS, lambda e: e.data["change"] == "updated")
        assert updated.data["incident_id"] == opened.data["incident_id"]
        assert updated.data["alert_ids"] == ["held-1", "held-2"]
        swept = counted(runtime, "held_sweeps")
        await eventually(lambda: counted(runtime, "held_sweeps") >= swept + 2, what="later sweeps")
        assert len(await opened_events(broker)) == 1 and counted(runtime, "held_groups_released") == 1
    finally:
        await runtime.stop()


async def test_a_restart_keeps_the_wait_and_the_new_process_opens_the_incident(
    broker: EmbeddedBroker, tmp_path: Path, catalog: Path, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    first = build(broker, tmp_path / "triage", catalog, clock)
    await first.start()
    try:
        message_id = await post_memory_alert(session, first, "held-before-restart")
        await eventually(lambda: counted(first, "alerts_pending") == 1, what="the alert held")
    finally:
        await first.stop()
    assert await opened_events(broker) == []

    clock.now += timedelta(minutes=11)  # the wait ended while triage was down
    second = build(broker, tmp_path / "triage", catalog, clock)
    await second.start()
    try:
        [opened] = await broker.wait_for(INCIDENTS, lambda e: e.data["change"] == "opened")
        assert opened.data["alert_ids"] == ["held-before-restart"]
        assert opened.id == derived_id(message_id, "incident-opened-after-hold")
        await eventually(lambda: counted(second, "held_groups_released") == 1, what="the release counted")
        swept = counted(second, "held_sweeps")
        await eventually(lambda: counted(second, "held_sweeps") >= swept + 2, what="later sweeps")
    finally:
        await second.stop()
    assert len(await opened_events(broker)) == 1
