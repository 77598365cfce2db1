"""Service faults on the whole cluster (`warden cluster up`: 3 NATS nodes, PostgreSQL, two replicas
of every service whose state is shared) while an alert storm and a few autonomous remediations are
in flight:

- `kill -9` of one replica of every replicated service at the moment policy releases its first
  action (mid-incident), the killed replicas started again a little later;
- a rolling restart of every process of the cluster (each service replica, then each NATS node),
  one at a time, each waited healthy before the next.

Then, once everything has settled: every accepted alert is attached once (triage) and recorded
once (audit); one incident per problem, opened once; one approved action per faulted service,
one `started` and one `verified` report each, and the sandbox scaled each service exactly once
(no action executed twice); `warden audit verify` exits 0.

Services that run as one process on the cluster (`warden_cli.cluster_replicas`: audit, elevation,
console, sandbox, and executor/scheduler until their PostgreSQL stores land) have no second
replica to fail over to; the kill test leaves them alone (the embedded-stack fault tests kill
those), the rolling restart restarts them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from warden_audit.reader import read_records
from warden_bus.provision import consumer_config
from warden_cli.cluster import ClusterStack
from warden_contracts import topology as topo
from warden_testkit.bus import until
from warden_testkit.cluster import (
    StormSent,
    audit_verify,
    read_topic,
    running_cluster,
    send_storm,
    triage_state,
    wait_streams_current,
    webhook_urls,
)
from warden_testkit.remediation import extra_env, inject_backlog, scale_outs
from warden_testkit.triage import storm

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ALERTS = 800  # 20 problems x 4 pods x 10 episodes
PROBLEMS = 20
FAULTED = tuple(f"queue-svc-{n}" for n in range(4))
ACK_WAIT_S = 5.0
SETTLE_S = 2 * ACK_WAIT_S
ROUND_ALERTS, ROUND_PROBLEMS = 200, 5  # a storm round in the rolling restart: 5 problems x 4 pods x 10
TICKETED, APPROVED = "sre.elevation.ticketed.v1", "sre.action.approved.v1"


@dataclass
class Harness:
    cluster: ClusterStack
    token: str
    sent: StormSent

    @property
    def root(self) -> Path:
        return self.cluster.layout.root

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.cluster.ports['sandbox']}"

    async def backlog(self, services: tuple[str, ...]) -> None:
        secret = self.cluster.layout.secrets()["sandbox_admin_secret"]
        for service in services:
            await inject_backlog(self.sandbox_url, secret, service)

    def envelopes(self) -> list[dict[str, Any]]:
        try:
            return [r["envelope"] for r in read_records(self.root / "audit")]
        except (FileNotFoundError, ValueError, OSError):
            return []  # mid-write: asked again shortly

    def verified(self) -> set[str]:
        return {
            e["data"].get("target", "")
            for e in self.envelopes()
            if e["type"] == "sre.action.reported.v1" and e["data"]["status"] == "verified"
        }


@contextlib.asynccontextmanager
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_cluster(tmp_path / "cluster", replicas=2, extra_env=extra_env(tmp_path, FAULTED)) as cluster:
        await shorten_ack_waits(cluster)
        yield Harness(cluster, cluster.layout.secrets()["webhook_token"], StormSent())


async def shorten_ack_waits(cluster: ClusterStack) -> None:
    """What a dead replica held comes back after 5 s instead of 60: more redelivery, never safer."""
    nc = await nats.connect(cluster.nats.urls, user_credentials=str(cluster.layout.creds("admin")))
    try:
        js = nc.jetstream(timeout=30)
        for t in topo.TOPICS:
            for durable in (*t.consumers, *t.elevated_consumers):
                config = consumer_config(t, durable)
                config.ack_wait = ACK_WAIT_S
                await js.add_consumer(t.stream, config)  # same durable: an update
    finally:
        await nc.close()


async def first_message(cluster: ClusterStack, topic: str) -> None:
    """Returns as the first message on `topic` reaches the cluster."""
    seen = asyncio.Event()

    async def on_message(_msg: Any) -> None:
        seen.set()

    nc = await nats.connect(cluster.nats.urls, user_credentials=str(cluster.layout.creds("admin")))
    try:
        await nc.subscribe(topic, cb=on_message)
        await asyncio.wait_for(seen.wait(), 300)
    finally:
        await nc.close()


async def settle(h: Harness) -> None:
    """Until every accepted alert is in and the audit log stops growing for SETTLE_S."""
    accepted = set(h.sent.accepted)
    assert await until(lambda: accepted <= set(triage_state(h.cluster).processed), 300, interval=0.5)
    assert await until(lambda: set(FAULTED) <= h.verified(), 300, interval=0.5), "a scale-out never verified"
    last, since = -1, asyncio.get_running_loop().time()

    def quiet() -> bool:
        nonlocal last, since
        now, count = asyncio.get_running_loop().time(), len(h.envelopes())
        if count != last:
            last, since = count, now
        return now - since >= SETTLE_S

    assert await until(quiet, 300, interval=0.5), "the audit log never stopped growing"


async def outcome(h: Harness) -> dict[str, Any]:
    envelopes = h.envelopes()
    records = Counter(
        r["message_id"] for r in read_records(h.root / "audit") if r["envelope"]["type"] == "sre.alert.received.v1"
    )
    state = triage_state(h.cluster)
    problems = dict(state.incident_service)
    approved = [e.data for e in await read_topic(h.cluster, APPROVED)]
    reports = Counter(
        (e["data"]["action_id"], e["data"]["status"]) for e in envelopes if e["type"] == "sre.action.reported.v1"
    )
    opened = Counter(
        e["data"]["incident_id"]
        for e in envelopes
        if e["type"] == "sre.incident.changed.v1" and e["data"]["change"] == "opened"
    )
    return {
        "accepted": len(h.sent.accepted),
        "processed": len(set(h.sent.accepted) & state.processed.keys()),
        "recorded_once": sum(1 for m in h.sent.accepted if records[m] == 1),
        "incidents_by_service": Counter(problems.values()),
        "opened": opened,
        "approved_by_target": Counter(a["target"] for a in approved),
        "approved_ids": [a["action_id"] for a in approved],
        "reports": reports,
        "scale_outs": {s: await scale_outs(h.sandbox_url, s) for s in FAULTED},
    }


def check(result: dict[str, Any], verify_exit: int, verify_output: str, *, alerts: int, problems: int) -> None:
    printable = {k: v for k, v in result.items() if k not in {"reports", "opened", "incidents_by_service"}}
    print("fault table row:", json.dumps(printable | {"verify_exit": verify_exit}, default=str))
    assert result["accepted"] == alerts
    assert result["processed"] == alerts, "an accepted alert was not applied by triage"
    assert result["recorded_once"] == alerts, "an accepted alert was not audited exactly once"
    by_service = result["incidents_by_service"]
    assert all(n == 1 for n in by_service.values()), f"a problem opened two incidents: {by_service}"
    assert len(by_service) == problems + len(FAULTED), by_service
    assert set(result["opened"].values()) == {1}, result["opened"]
    assert result["approved_by_target"] == dict.fromkeys(FAULTED, 1), result["approved_by_target"]
    for action_id in result["approved_ids"]:
        assert result["reports"][(action_id, "started")] == 1, (action_id, result["reports"])
        assert result["reports"][(action_id, "verified")] == 1, (action_id, result["reports"])
    assert result["scale_outs"] == dict.fromkeys(FAULTED, 1), f"an action ran twice or never: {result['scale_outs']}"
    assert verify_exit == 0, verify_output


def start_storm(h: Harness, prefix: str) -> asyncio.Task[StormSent]:
    plan = storm(alerts=ALERTS, problems=PROBLEMS, resources_per_problem=4, group_size=50, prefix=prefix)
    return asyncio.create_task(send_storm(webhook_urls(h.cluster), plan.groups, h.token, senders=4, into=h.sent))


async def test_kill9_of_one_replica_of_each_service_mid_incident_executes_nothing_twice(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        replicated = sorted(
            {p.service for p in h.cluster.services.values() if len(h.cluster.replicas_of(p.service)) > 1}
        )
        assert {"triage", "planner", "policy"} <= set(replicated)
        half = len(FAULTED) // 2
        released = asyncio.create_task(first_message(h.cluster, TICKETED))
        await h.backlog(FAULTED[:half])
        sending = start_storm(h, "replicakill")
        await released  # policy has released its first action: incidents are mid-flight
        victims = [h.cluster.replicas_of(s)[0] for s in replicated]
        for victim in victims:
            assert victim.popen is not None
            victim.popen.kill()
        for victim in victims:
            assert victim.popen is not None
            victim.popen.wait(10)
        await h.backlog(FAULTED[half:])  # work that arrives while they are dead
        await asyncio.sleep(2.0)
        for victim in victims:
            await h.cluster.restart(victim.name)
        await asyncio.wait_for(sending, 600)
        await settle(h)
        result = await outcome(h) | {"killed": [v.name for v in victims]}
    verified = audit_verify(tmp_path / "cluster")
    check(result, verified.returncode, verified.stdout + verified.stderr, alerts=ALERTS, problems=PROBLEMS)


async def storm_rounds(h: Harness, stop: asyncio.Event) -> int:
    """Small storms, one after another, each on services of its own, until `stop`: load for the
    whole rolling restart. Returns how many rounds were sent."""
    rounds = 0
    while not stop.is_set():
        plan = storm(alerts=ROUND_ALERTS, problems=ROUND_PROBLEMS, resources_per_problem=4, prefix=f"roll{rounds}")
        await send_storm(webhook_urls(h.cluster), plan.groups, h.token, senders=2, into=h.sent)
        rounds += 1
        await asyncio.sleep(0.5)
    return rounds


async def test_rolling_restart_of_every_process_under_load_loses_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.backlog(FAULTED[:2])
        stop = asyncio.Event()
        sending = asyncio.create_task(storm_rounds(h, stop))
        # Every Warden process, one at a time; not the sandbox: it is the simulated estate (its
        # state is the world being remediated), not a part of Warden.
        names = [n for n, p in h.cluster.services.items() if p.service != "sandbox"]
        for i, name in enumerate(names):
            await h.cluster.stop_replica(name)
            await h.cluster.restart(name)
            if i == len(names) // 2:
                await h.backlog(FAULTED[2:])  # remediations that start mid-restart
        for node in [n.name for n in h.cluster.nats.nodes]:
            await h.cluster.stop_node(node)
            await h.cluster.restart_node(node)
            health = await wait_streams_current(h.cluster)
            assert all(s["healthy"] for s in health), [s for s in health if not s["healthy"]]
        stop.set()
        rounds = await asyncio.wait_for(sending, 600)
        await settle(h)
        result = await outcome(h) | {"restarted": len(names) + 3, "rounds": rounds}
    verified = audit_verify(tmp_path / "cluster")
    check(
        result,
        verified.returncode,
        verified.stdout + verified.stderr,
        alerts=rounds * ROUND_ALERTS,
        problems=rounds * ROUND_PROBLEMS,
    )
