"""Storm: 10,000 alerts from 50 problems over 200 resources, through the webhook, the real bus and
SQLite, collapse into exactly 50 incidents, and every alert is accounted for."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.triage import storm
from warden_triage.app import create_app
from warden_triage.domain.correlation import worth_announcing

TOKEN = "storm-token"
INCIDENTS = "sre.incident.changed.v1"


def _accounting(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        processed = conn.execute("SELECT COUNT(*) FROM processed").fetchone()[0]
        linked = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        unmatched = conn.execute("SELECT COUNT(*) FROM unmatched_alerts").fetchone()[0]
    return processed, linked, unmatched


async def test_storm_collapses_into_one_incident_per_problem_and_loses_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    plan = storm(alerts=10_000, problems=50, resources_per_problem=4, group_size=100)
    runtime = create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("triage"),
        data_dir=tmp_path / "triage",
        webhook_token=TOKEN,
        http_port=0,
    )
    await runtime.start()
    try:
        url = f"http://127.0.0.1:{runtime.bound_port}/webhooks/prometheus"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        accepted: list[str] = []
        gate = asyncio.Semaphore(4)

        async def send(session: aiohttp.ClientSession, body: bytes) -> None:
            async with gate:
                while True:  # what a well-behaved source does with 429/503: wait and send again
                    async with session.post(url, data=body, headers=headers) as resp:
                        if resp.status in {429, 503}:
                            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        assert resp.status == 202, await resp.text()
                        accepted.extend(a["alert_id"] for a in (await resp.json())["accepted"])
                        return

        bodies = [json.dumps(g).encode() for g in plan.groups]
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(send(session, b) for b in bodies))
            await send(session, bodies[0])  # a re-sent group: de-duplicated, not counted twice
        assert len(accepted) == plan.alerts + len(plan.groups[0]["alerts"])
        assert len(set(accepted)) == plan.alerts

        db = tmp_path / "triage" / "state" / "triage.db"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 240
        while _accounting(db)[0] < plan.alerts and loop.time() < deadline:
            await asyncio.sleep(0.5)
        processed, linked, unmatched = _accounting(db)
        assert (processed, linked, unmatched) == (plan.alerts, plan.alerts, 0)

        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT service, class, alert_count, status FROM incidents").fetchall()
        assert len(rows) == plan.problems
        assert {r[0]: r[2] for r in rows} == plan.alerts_per_problem
        assert {r[0]: r[1] for r in rows} == plan.class_of
        assert {r[3] for r in rows} == {"open"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{runtime.bound_port}/metrics") as resp,
        ):
            metrics = await resp.text()
        assert f'warden_alerts_total{{fate="opened",service="triage"}} {plan.problems}.0' in metrics
        assert f'warden_alerts_total{{fate="attached",service="triage"}} {plan.alerts - plan.problems}.0' in metrics
        assert "alerts_duplicate" not in metrics and "alerts_unmatched" not in metrics
    finally:
        await runtime.stop()

    events = await broker.read_all(INCIDENTS)
    opened = [e for e in events if e.data["change"] == "opened"]
    assert len(opened) == plan.problems
    # Updates are announced sparingly in a storm (first ten, then powers of two): 200 alerts -> 13.
    per_incident = sum(1 for n in range(2, plan.alerts // plan.problems + 1) if worth_announcing(n))
    assert per_incident == 13
    assert len(events) - len(opened) == plan.problems * per_incident
    assert sum(1 for e in events if e.data.get("suppression_proposal")) == plan.problems
