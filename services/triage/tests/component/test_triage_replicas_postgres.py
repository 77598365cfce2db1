"""Two triage services (competing consumers on one real NATS server) sharing one PostgreSQL
schema through `triage_store_url`: alerts of one fingerprint posted to both webhooks at once end
in one incident (one `opened` event), every alert attached once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.postgres import postgres_schema
from warden_triage.adapters.sql_store import SqlIncidentStore
from warden_triage.app import create_app

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOKEN = "t"
INCIDENTS = "sre.incident.changed.v1"
ALERTS = 20


def fired(alert_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "azure_metric_fired.json").read_text())
    payload["data"]["essentials"]["alertId"] = alert_id
    return payload


async def attached(store: SqlIncidentStore, fingerprint: str) -> int:
    async with store.transaction() as tx:
        incident = await tx.open_incident(fingerprint)
    return incident.alert_count if incident else 0


async def until_value(probe: Callable[[], Awaitable[int]], expected: int, timeout: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await probe() != expected:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_two_replicas_on_one_postgres_schema_open_one_incident(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with postgres_schema("triage") as url, aiohttp.ClientSession() as session:
        replicas = [
            create_app(
                nats_url=broker.url,
                nats_creds=broker.creds("triage"),
                data_dir=tmp_path / f"replica-{i}",
                webhook_token=TOKEN,
                http_port=0,
                triage_store_url=url,
                consume_batch_size=4,
            )
            for i in range(2)
        ]
        for r in replicas:
            await r.start()
        try:

            async def post(i: int) -> int:
                base = f"http://127.0.0.1:{replicas[i % 2].bound_port}"
                headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                async with session.post(f"{base}/webhooks/azure-monitor", json=fired(f"a-{i}"), headers=headers) as r:
                    return r.status

            assert await asyncio.gather(*(post(i) for i in range(ALERTS))) == [202] * ALERTS
            [opened] = await broker.wait_for(INCIDENTS, lambda e: e.data["change"] == "opened")
            inspector = SqlIncidentStore(url)  # a third connection to the shared state
            await inspector.open()
            try:
                assert await until_value(lambda: attached(inspector, opened.data["fingerprint"]), ALERTS)
                async with inspector.transaction() as tx:
                    links = await tx.links_of_incident(opened.data["incident_id"])
                    assert sorted(link.alert_id for link in links) == sorted(f"a-{i}" for i in range(ALERTS))
            finally:
                await inspector.close()
            events = await broker.read_all(INCIDENTS)  # updates are announced at a few counts only
            assert [e.data["change"] for e in events].count("opened") == 1
            assert {e.data["incident_id"] for e in events} == {opened.data["incident_id"]}
        finally:
            for r in replicas:
                await r.stop()
    assert not (tmp_path / "replica-0" / "state" / "triage.db").exists()  # the state was in PostgreSQL
