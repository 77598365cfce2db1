"""`warden bench triage --cluster`: triage throughput with 1 and then 2 replicas, in the same run,
on the same `warden cluster` (3 NATS nodes, streams with 3 replicas, the triage store in the
machine's PostgreSQL), and the ratio.

Phase 1 stops the second replica and posts a storm to the first one's webhook; phase 2 starts it
again and posts a storm of the same shape (on services of its own, so it opens its own incidents)
spread over both webhooks. Each phase's rate is counted the same way as `bench triage`: alerts
committed per second once the first 10% are in (`steady_rate`), from the store's `processed_at`;
and both phases must collapse into the same incidents, or the run fails.

Both phases run with the same durability, printed with the numbers: every publish acknowledged
after 3 nodes stored it with `sync_interval: always`, every triage transaction committed with
PostgreSQL's `synchronous_commit` and `fsync` as the server reports them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from warden_cli.cluster import STREAM_REPLICAS, ClusterStack
from warden_testkit.cluster import running_cluster, send_storm, wait_processed, webhook_urls
from warden_testkit.triage import Storm, storm

from warden_bench.triage import steady_rate


@dataclass(frozen=True)
class Phase:
    replicas: int
    alerts: int
    steady_per_s: float
    whole_per_s: float
    retries: int
    shape: list[tuple[str, int]]  # (incident class, alerts) per incident, sorted


@dataclass(frozen=True)
class ClusterResult:
    one: Phase
    two: Phase
    durability: dict[str, str]

    @property
    def ratio(self) -> float:
        return self.two.steady_per_s / self.one.steady_per_s

    def as_json(self) -> dict[str, Any]:
        def phase(p: Phase) -> dict[str, Any]:
            return {
                "replicas": p.replicas,
                "alerts": p.alerts,
                "sustained_alerts_per_s": round(p.steady_per_s, 1),
                "whole_storm_alerts_per_s": round(p.whole_per_s, 1),
                "retries": p.retries,
                "incidents": len(p.shape),
            }

        return {
            "one_replica": phase(self.one),
            "two_replicas": phase(self.two),
            "ratio": round(self.ratio, 3),
            "durability": self.durability,
        }


async def _phase(cluster: ClusterStack, plan: Storm, token: str, replicas: int) -> Phase:
    urls = webhook_urls(cluster)
    assert len(urls) == replicas, f"expected {replicas} triage webhooks, found {len(urls)}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = await send_storm(urls, plan.groups, token, deadline_s=3600)
    state = await wait_processed(cluster, set(sent.accepted), timeout_s=3600)
    done = [state.processed[m] for m in sent.accepted]
    elapsed = loop.time() - started
    prefix = next(iter(plan.alerts_per_problem)).rsplit("-", 1)[0]
    ours = [i for i, s in state.incident_service.items() if s.startswith(prefix)]
    shape = sorted((state.incident_class[i], state.alerts_per_incident[i]) for i in ours)
    if sorted(n for _, n in shape) != sorted(plan.alerts_per_problem.values()):
        raise RuntimeError(f"{replicas} replica(s): the storm did not collapse into {plan.problems} incidents")
    return Phase(replicas, len(sent.accepted), steady_rate(done), len(sent.accepted) / elapsed, sent.retries, shape)


def _durability(cluster: ClusterStack) -> dict[str, str]:
    conf = cluster.nats.nodes[0].conf.read_text()
    with psycopg.connect(cluster.database_url, connect_timeout=5) as conn:
        sync_commit = conn.execute("SHOW synchronous_commit").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    return {
        "nats_nodes": str(len(cluster.nats.nodes)),
        "stream_replicas": str(STREAM_REPLICAS),
        "jetstream_sync_interval": "always" if "sync_interval: always" in conf else "server default (2 min)",
        "triage_store": "postgresql",
        "postgres_synchronous_commit": str(sync_commit[0] if sync_commit else "unknown"),
        "postgres_fsync": str(fsync[0] if fsync else "unknown"),
    }


async def measure_cluster(alerts: int, tmp: Path) -> ClusterResult:
    problems = 50
    async with running_cluster(tmp / "cluster", replicas=2, only=("triage",)) as cluster:
        token = cluster.layout.secrets()["webhook_token"]
        second = cluster.replicas_of("triage")[1]
        await cluster.stop_replica(second.name)
        shape = {"alerts": alerts, "problems": problems, "resources_per_problem": 4, "group_size": 100}
        one = await _phase(cluster, storm(**shape, prefix="one"), token, 1)
        await cluster.restart(second.name)
        two = await _phase(cluster, storm(**shape, prefix="two"), token, 2)
        durability = _durability(cluster)
    if one.shape != two.shape:
        raise RuntimeError("two replicas opened other incidents than one replica")
    return ClusterResult(one, two, durability)


def report(r: ClusterResult) -> str:
    lines = [f"durability (both phases): {json.dumps(r.durability)}"]
    for p in (r.one, r.two):
        lines.append(
            f"triage x{p.replicas}  sustained {p.steady_per_s:8.0f} alerts/s  whole storm {p.whole_per_s:8.0f} alerts/s"
            f"   {p.alerts} alerts -> {len(p.shape)} incidents, 429/503 retries {p.retries}"
        )
    lines.append(f"2 replicas / 1 replica (sustained)  {r.ratio:.3f}x")
    return "\n".join(lines)
