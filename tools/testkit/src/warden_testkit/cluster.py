"""`warden cluster` for fault tests and benchmarks: start a real cluster (3 NATS nodes, the
machine's PostgreSQL, replicated services) in a temporary folder, drive alert storms through the
triage replicas' webhooks, read what triage stored, stop everything and drop the database."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.js.errors
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from warden_cli import cluster_database
from warden_cli.cluster import ClusterOptions, ClusterStack
from warden_cli.cluster_processes import Tracked
from warden_cli.launcher import StackOptions
from warden_cli.layout import Layout
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope


@asynccontextmanager
async def running_cluster(
    root: Path,
    *,
    replicas: int = 2,
    only: tuple[str, ...] | None = None,
    log_level: str = "WARNING",
    health_timeout_s: float = 180.0,
    **stack: Any,
) -> AsyncIterator[ClusterStack]:
    """A started cluster; on exit every process it started is stopped and its database dropped."""
    options = ClusterOptions(
        replicas=replicas,
        only=only,
        stop_timeout_s=10,
        health_timeout_s=health_timeout_s,
        stack=StackOptions(log_level=log_level, **stack),
    )
    cluster = ClusterStack(Layout(root), options)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()
        await asyncio.to_thread(
            cluster_database.drop_database, options.postgres_url, cluster_database.database_name(root)
        )


def kill9(process: Tracked) -> None:
    """SIGKILL, then reap it (our child), so its port and PID are free before anything restarts."""
    assert process.popen is not None and process.alive, f"{process.name} is not running"
    process.popen.send_signal(signal.SIGKILL)
    process.popen.wait(10)


def kill9_node(cluster: ClusterStack, name: str) -> None:
    node = cluster.nats.node(name)
    assert node.process is not None and node.process.poll() is None, f"{name} is not running"
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(10)


def audited(root: Path, kind: str) -> Counter[str]:
    """Message id -> how many audit records hold it, for one message type."""
    from warden_audit.reader import read_records

    return Counter(r["message_id"] for r in read_records(root / "audit") if r.get("type") == kind)


async def wait_audited(root: Path, kind: str, ids: set[str], timeout_s: float = 600) -> Counter[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        seen = await asyncio.to_thread(audited, root, kind)
        if ids <= seen.keys():
            return seen
        if loop.time() > deadline:
            raise TimeoutError(f"audit recorded {len(ids & seen.keys())} of {len(ids)} {kind} messages")
        await asyncio.sleep(1.0)


async def stream_leader(cluster: ClusterStack, stream: str) -> str:
    from warden_bus.nats_cluster import stream_health

    urls = [n.url for n in cluster.nats.nodes if n.process is not None and n.process.poll() is None]
    for s in await stream_health(urls, cluster.layout.creds("admin")):
        if s["stream"] == stream and s.get("leader"):
            return str(s["leader"])
    raise RuntimeError(f"{stream} has no leader")


async def wait_streams_current(cluster: ClusterStack, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Until every stream has a leader and every follower is current again (after a node restart)."""
    from warden_bus.nats_cluster import stream_health

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        health = await stream_health(cluster.nats.urls, cluster.layout.creds("admin"))
        if all(s["healthy"] for s in health) or loop.time() > deadline:
            return health
        await asyncio.sleep(1.0)


def webhook_urls(cluster: ClusterStack, route: str = "prometheus") -> list[str]:
    return [f"http://127.0.0.1:{p.port}/webhooks/{route}" for p in cluster.replicas_of("triage") if p.alive]


@dataclass
class StormSent:
    accepted: dict[str, str] = field(default_factory=dict)  # message id -> alert id, as the webhooks answered
    sent_at: dict[str, float] = field(default_factory=dict)  # message id -> first POST (loop time)
    retries: int = 0


async def send_storm(
    urls: list[str],
    groups: list[dict[str, Any]],
    token: str,
    *,
    senders: int = 8,
    deadline_s: float = 600,
    into: StormSent | None = None,
) -> StormSent:
    """POST every group, spread round-robin over `urls`; 429/503 and a refused connection (a
    replica or node just died) are retried, on the next URL, until `deadline_s`. `into` lets the
    caller watch progress (a fault test strikes once part of the storm is in)."""
    out = into or StormSent()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for g in groups:
        queue.put_nowait(g)
    turn = itertools.count()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            group = queue.get_nowait()
            body, first = json.dumps(group).encode(), loop.time()
            while True:
                if loop.time() > deadline:
                    raise TimeoutError(f"storm not accepted within {deadline_s:.0f}s")
                url = urls[next(turn) % len(urls)]
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        if resp.status in {429, 503}:
                            out.retries += 1
                            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        if resp.status != 202:
                            raise RuntimeError(f"{url} answered {resp.status}: {await resp.text()}")
                        for a in (await resp.json())["accepted"]:
                            out.accepted[a["message_id"]] = a["alert_id"]
                            out.sent_at.setdefault(a["message_id"], first)
                        break
                except (aiohttp.ClientConnectionError, TimeoutError):
                    out.retries += 1
                    await asyncio.sleep(0.2)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(sender(session) for _ in range(senders)))
    return out


@dataclass(frozen=True)
class TriageState:
    processed: dict[str, float]  # message id -> processed_at (epoch seconds)
    alerts_per_incident: dict[str, int]
    incident_service: dict[str, str]  # incident id -> service
    incident_class: dict[str, str]


def triage_state(cluster: ClusterStack) -> TriageState:
    """What the triage replicas committed, read from their shared PostgreSQL schema."""
    from datetime import datetime

    with psycopg.connect(cluster.database_url, connect_timeout=5) as conn:
        conn.execute("SET search_path TO triage")
        processed = conn.execute("SELECT message_id, processed_at FROM processed").fetchall()
        counts = conn.execute("SELECT incident_id, COUNT(*) FROM alerts GROUP BY incident_id").fetchall()
        incidents = conn.execute('SELECT id, service, "class" FROM incidents').fetchall()
    return TriageState(
        {m: datetime.fromisoformat(str(at)).timestamp() for m, at in processed},
        {i: int(n) for i, n in counts},
        {i: s for i, s, _ in incidents},
        {i: c for i, _, c in incidents},
    )


async def wait_processed(cluster: ClusterStack, ids: set[str], timeout_s: float = 600) -> TriageState:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        state = await asyncio.to_thread(triage_state, cluster)
        if ids <= state.processed.keys():
            return state
        if loop.time() > deadline:
            raise TimeoutError(f"triage processed {len(ids & state.processed.keys())} of {len(ids)} alerts")
        await asyncio.sleep(0.5)


def audit_verify(root: Path) -> subprocess.CompletedProcess[str]:
    """`warden audit verify` on the cluster's data folder, exactly as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "warden_cli", "audit", "verify", "--data-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WARDEN_LOG_LEVEL": "WARNING"},
        check=False,
    )


async def read_topic(cluster: ClusterStack, topic: str, attempts: int = 10) -> list[Envelope]:
    """Everything on a topic's stream, read as admin through an ephemeral consumer on any live node;
    read again from the start while the cluster answers 503 (a consumer placed as a node left)."""
    for attempt in range(1, attempts + 1):
        try:
            return await _read_topic(cluster, topic)
        except nats.js.errors.ServiceUnavailableError:
            if attempt == attempts:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _read_topic(cluster: ClusterStack, topic: str, deadline_s: float = 60.0) -> list[Envelope]:
    t = topo.topic(topic)
    urls = [n.url for n in cluster.nats.nodes if n.process is not None and n.process.poll() is None]
    nc = await nats.connect(urls, user_credentials=str(cluster.layout.creds("admin")), allow_reconnect=False)
    out: list[Envelope] = []
    try:
        js = nc.jetstream(timeout=30)
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=30,
            num_replicas=1,
            mem_storage=True,
        )
        sub = await js.pull_subscribe(t.subject_filter, stream=t.stream, config=config)
        # The consumer's pending count at creation is what the stream holds for the filter; a fetch
        # that times out just after a node died (stream leader re-electing) is not the end of it.
        expected = (await sub.consumer_info()).num_pending or 0
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline_s
        while len(out) < expected and loop.time() < until:
            try:
                msgs = await sub.fetch(min(500, expected - len(out)), timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            out += [Envelope.from_bytes(m.data) for m in msgs]
        if len(out) < expected:
            raise AssertionError(f"read {len(out)} of the {expected} messages on {topic} in {deadline_s:.0f} s")
        await sub.unsubscribe()
    finally:
        await nc.close()
    return out


async def metric_total(port: int, family: str) -> float:
    """The sum of one counter family over its labels, from a replica's /metrics."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(family + "{"))
