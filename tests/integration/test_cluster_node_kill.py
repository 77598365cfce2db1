"""`kill -9` of one NATS node (the leader of the alert stream) in the middle of an alert storm on
a 3-node cluster, two triage replicas and the audit service: every alert a webhook accepted is
recorded exactly once, by triage and by audit; no incident is opened twice; the audit log
verifies; the node rejoins and every stream's replicas are current again."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from warden_cli.cluster import ClusterStack
from warden_contracts import topology as topo
from warden_contracts.events import IncidentChanged, IncidentState
from warden_testkit.cluster import (
    StormSent,
    audit_verify,
    kill9_node,
    read_topic,
    running_cluster,
    send_storm,
    stream_leader,
    wait_audited,
    wait_processed,
    wait_streams_current,
    webhook_urls,
)
from warden_testkit.triage import storm

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
ALERTS = 4000  # 20 problems x 4 resources x 50 episodes
ALERT_TOPIC = "sre.alert.received.v1"


async def test_kill9_of_a_nats_node_mid_storm_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    async with running_cluster(root, replicas=2, only=("triage", "audit")) as cluster:
        plan = storm(alerts=ALERTS, problems=20, resources_per_problem=4, prefix="nodekill")
        sent = StormSent()
        sending = asyncio.create_task(
            send_storm(webhook_urls(cluster), plan.groups, cluster.layout.secrets()["webhook_token"], into=sent)
        )
        while len(sent.accepted) < ALERTS // 4 and not sending.done():
            await asyncio.sleep(0.05)
        assert not sending.done(), "the storm ended before the fault"
        victim = await stream_leader(cluster, topo.topic(ALERT_TOPIC).stream)
        kill9_node(cluster, victim)
        await sending
        assert len(sent.accepted) == ALERTS

        state = await wait_processed(cluster, set(sent.accepted))
        ours = {i: s for i, s in state.incident_service.items() if s.startswith("nodekill")}
        assert sorted(Counter(ours.values()).values()) == [1] * plan.problems, "an incident was opened twice"
        assert {s: state.alerts_per_incident[i] for i, s in ours.items()} == plan.alerts_per_problem
        expected = Counter(dict.fromkeys(plan.alerts_per_problem, 1))
        opened = await opened_per_service(cluster, until=expected)
        assert opened == expected

        recorded = await wait_audited(root, ALERT_TOPIC, set(sent.accepted))
        assert {m: n for m, n in recorded.items() if m in sent.accepted} == dict.fromkeys(sent.accepted, 1)

        await cluster.restart_node(victim)
        health = await wait_streams_current(cluster)
        assert all(s["healthy"] for s in health), [s for s in health if not s["healthy"]]

    verified = audit_verify(root)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def opened_per_service(cluster: ClusterStack, until: Counter[str], timeout_s: float = 90) -> Counter[str]:
    """The OPENED announcements per service, read again while some are missing: a read placed on
    a stream peer still catching up after the kill can see fewer (CI saw 0 and 1 of 20) than
    the stream holds; a duplicate shows either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        opened = Counter(
            e.payload(IncidentChanged).service
            for e in await read_topic(cluster, "sre.incident.changed.v1")
            if e.payload(IncidentChanged).change == IncidentState.OPENED
        )
        if set(until) <= set(opened) or loop.time() > deadline:
            return opened
        await asyncio.sleep(2.0)
