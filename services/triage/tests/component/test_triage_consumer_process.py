"""`python -m warden_triage` runs the webhook intake and the alert consumer as two processes: a
storm through it collapses into its incidents, the intake serves the consumer's counters, a
consumer that dies is started again, and a kill -9 of the intake takes the consumer with it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from warden_bus.embedded_server import free_port
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_testkit.triage import storm
from warden_triage.adapters.store_inspection import incident_alert_counts, processed_times

TOKEN = "consumer-process-token"


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processed(db: Path) -> set[str]:
    try:
        return set(processed_times(db))
    except sqlite3.OperationalError:  # the schema is still being created
        return set()


async def test_intake_and_consumer_processes(broker: EmbeddedBroker, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("triage")),
        "WARDEN_DATA_DIR": str(tmp_path),
        "WARDEN_HTTP_PORT": str(port),
        "WARDEN_WEBHOOK_TOKEN": TOKEN,
        "WARDEN_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "triage.log").open("ab")
    intake = subprocess.Popen([sys.executable, "-m", "warden_triage"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "state" / "triage.db"
    plan = storm(alerts=400)
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await poll(healthy, 60, "triage healthy")
            (consumer,) = children(intake.pid)
            accepted: set[str] = set()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            for group in plan.groups:
                async with http.post(f"{base}/webhooks/prometheus", json=group, headers=headers) as resp:
                    assert resp.status == 202, await resp.text()
                    accepted |= {a["message_id"] for a in (await resp.json())["accepted"]}
            await eventually(lambda: processed(db) >= accepted, 60, what="every alert applied")
            assert sorted(incident_alert_counts(db).values()) == sorted(plan.alerts_per_problem.values())

            async def metrics() -> str:
                async with http.get(f"{base}/metrics") as resp:
                    return await resp.text()

            # The consumer's counts, reported to the intake, next to the intake's own.
            expected = [
                f'warden_alerts_total{{fate="opened",service="triage"}} {plan.problems}.0',
                f'warden_alerts_total{{fate="attached",service="triage"}} {plan.alerts - plan.problems}.0',
                f'warden_webhook_accepted_total{{service="triage"}} {plan.alerts}.0',
            ]

            async def reported() -> bool:
                text = await metrics()
                return all(line in text for line in expected)

            await poll(reported, 10, "the consumer's counters at the intake")

            # A consumer that dies is started again; until then the intake is not healthy.
            os.kill(consumer, signal.SIGKILL)
            await eventually(lambda: not running(consumer), 10, what="the consumer gone")
            await eventually(lambda: [c for c in children(intake.pid) if c != consumer], 30, what="a new consumer")
            await poll(healthy, 30, "healthy again")
            (consumer,) = children(intake.pid)

        # kill -9 of the intake: the consumer goes with it (nothing left consuming).
        intake.send_signal(signal.SIGKILL)
        intake.wait(timeout=10)
        await eventually(lambda: not running(consumer), 10, what="the consumer to die with the intake")
    finally:
        if intake.poll() is None:
            intake.send_signal(signal.SIGTERM)
            intake.wait(timeout=30)


async def poll(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not met before the deadline"
        await asyncio.sleep(0.1)
