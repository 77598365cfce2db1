"""Service faults on the whole cluster (`warden cluster up`: 3 NATS nodes, PostgreSQL, two replicas
of every service whose state is shared) while an alert storm and a few autonomous remediations are
in flight:

- `kill -9` of one replica of every replicated service at the moment policy releases its first
  action (mid-incident), the killed replicas started again a little later;
- a rolling restart of every process of the cluster (each service replica, then each NATS node),
  one at a time, each waited healthy before the next.

Then, once everything has settled: every accepted alert is attached once (triage) and recorded
once (audit); one incident per problem, opened once; one approved action per faulted service,
one `started` and one final report each (`verified`; or `rolled_back` when its plan came so late
on the loaded machine that the backlog outgrew the 30 s verification window), and the sandbox
changed each service once (twice with the rollback): no action executed twice; `warden audit
verify` exits 0.

Services that run as one process on the cluster (`warden_cli.cluster_replicas`: audit, elevation,
console, sandbox) have no second replica to fail over to; the kill test leaves them alone (the
embedded-stack fault tests kill those), the rolling restart restarts them too (not the sandbox:
it is the simulated estate, not a part of Warden).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
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
FINAL = ("verified", "rolled_back", "failed")
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

    def concluded(self) -> set[str]:
        """Targets whose action has a final report: verified, or rolled back / failed when the
        backlog outgrew what the scale-out could drain in its verification window (a late plan
        on a loaded machine); either way the action ran once, which is what is checked."""
        return {
            e["data"].get("target", "")
            for e in self.envelopes()
            if e["type"] == "sre.action.reported.v1" and e["data"]["status"] in FINAL
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
    assert await until(lambda: set(FAULTED) <= h.concluded(), 300, interval=0.5), "an action never concluded"
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
        "approved_targets": [a["target"] for a in approved],
        "final": {a["target"]: [st for st in FINAL if reports[(a["action_id"], st)]] for a in approved},
        "reports": reports,
        "scale_outs": {s: await scale_outs(h.sandbox_url, s) for s in FAULTED},
    }


def check(result: dict[str, Any], verify_exit: int, verify_output: str, *, alerts: int, problems: int) -> None:
    skip = {"reports", "opened", "incidents_by_service", "approved_ids", "approved_targets"}
    printable = {k: v for k, v in result.items() if k not in skip}
    print("fault table row:", json.dumps(printable | {"verify_exit": verify_exit}, default=str))
    assert result["accepted"] == alerts
    assert result["processed"] == alerts, "an accepted alert was not applied by triage"
    assert result["recorded_once"] == alerts, "an accepted alert was not audited exactly once"
    by_service = result["incidents_by_service"]
    assert all(n == 1 for n in by_service.values()), f"a problem opened two incidents: {by_service}"
    assert len(by_service) == problems + len(FAULTED), by_service
    assert set(result["opened"].values()) == {1}, result["opened"]
    assert result["approved_by_target"] == dict.fromkeys(FAULTED, 1), result["approved_by_target"]
    reports = result["reports"]
    for action_id, target in zip(result["approved_ids"], result["approved_targets"], strict=True):
        assert reports[(action_id, "started")] == 1, (action_id, reports)
        finals = {status: reports[(action_id, status)] for status in FINAL if reports[(action_id, status)]}
        assert list(finals.values()) == [1], (action_id, finals)
        # The sandbox changed the service once, plus once more for a rollback.
        expected = 2 if "rolled_back" in finals else 1
        assert result["scale_outs"][target] == expected, f"an action ran twice: {target} {result['scale_outs']}"
    assert verify_exit == 0, verify_output


def start_storm(h: Harness, prefix: str) -> asyncio.Task[StormSent]:
    plan = storm(alerts=ALERTS, problems=PROBLEMS, resources_per_problem=4, group_size=50, prefix=prefix)
    return asyncio.create_task(send_storm(webhook_urls(h.cluster), plan.groups, h.token, senders=4, into=h.sent))


async def test_kill9_of_one_replica_of_each_service_mid_incident_executes_nothing_twice(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        replicated = sorted(
            {p.service for p in h.cluster.services.values() if len(h.cluster.replicas_of(p.service)) > 1}
        )
        assert {"triage", "planner", "policy", "executor", "scheduler"} <= set(replicated)
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


async def under_load(h: Harness, round_no: int, step: Awaitable[Any]) -> None:
    """Run `step` (one restart) while a storm round is being posted: the webhooks keep taking
    alerts, on whichever triage replica is up, for the whole of the step."""
    plan = storm(alerts=ROUND_ALERTS, problems=ROUND_PROBLEMS, resources_per_problem=4, prefix=f"roll{round_no}")
    sending = asyncio.create_task(send_storm(webhook_urls(h.cluster), plan.groups, h.token, senders=2, into=h.sent))
    await step
    await asyncio.wait_for(sending, 600)


async def test_rolling_restart_of_every_process_under_load_loses_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.backlog(FAULTED[:2])
        # Every Warden process, one at a time; not the sandbox: it is the simulated estate (its
        # state is the world being remediated), not a part of Warden.
        names = [n for n, p in h.cluster.services.items() if p.service != "sandbox"]
        rounds = 0
        for i, name in enumerate(names):
            await under_load(h, rounds, restart_replica(h.cluster, name))
            rounds += 1
            if i == len(names) // 2:
                await h.backlog(FAULTED[2:])  # remediations that start mid-restart
        for node in [n.name for n in h.cluster.nats.nodes]:
            await under_load(h, rounds, restart_node(h.cluster, node))
            rounds += 1
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


async def restart_replica(cluster: ClusterStack, name: str) -> None:
    await cluster.stop_replica(name)
    await cluster.restart(name)


async def restart_node(cluster: ClusterStack, name: str) -> None:
    await cluster.stop_node(name)
    await cluster.restart_node(name)
    health = await wait_streams_current(cluster)
    assert all(s["healthy"] for s in health), [s for s in health if not s["healthy"]]
