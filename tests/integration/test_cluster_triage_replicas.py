"""Two triage replicas on a 3-node JetStream cluster and one shared PostgreSQL store open the same
incidents one replica opens: the same storm shape, sent first to one replica alone and then spread
over both webhooks, collapses into the same incidents, each opened once, every alert attached once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from warden_cli.cluster_status import status
from warden_contracts.events import IncidentChanged, IncidentState
from warden_testkit.cluster import (
    StormSent,
    TriageState,
    metric_total,
    read_topic,
    running_cluster,
    send_storm,
    wait_processed,
    webhook_urls,
)
from warden_testkit.triage import Storm, storm

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
ALERTS = 2000  # 10 problems x 4 resources x 50 episodes


def shape(plan: Storm, state: TriageState, sent: StormSent) -> dict[str, tuple[str, int]]:
    """Problem number -> (incident class, alerts attached), for this storm's incidents only."""
    prefix = next(iter(plan.alerts_per_problem)).rsplit("-", 1)[0]
    ours = {i: s for i, s in state.incident_service.items() if s.startswith(prefix)}
    per_service = Counter(ours.values())
    assert all(n == 1 for n in per_service.values()), f"duplicate incidents: {per_service}"
    assert set(sent.accepted) <= state.processed.keys()
    return {s.rsplit("-", 1)[1]: (state.incident_class[i], state.alerts_per_incident[i]) for i, s in ours.items()}


async def test_two_triage_replicas_open_the_incidents_one_opens(tmp_path: Path) -> None:
    async with running_cluster(tmp_path / "cluster", replicas=2, only=("triage",)) as cluster:
        token = cluster.layout.secrets()["webhook_token"]
        _, second = cluster.replicas_of("triage")
        assert len(cluster.replicas_of("triage")) == 2

        await cluster.stop_replica(second.name)
        one = storm(alerts=ALERTS, problems=10, resources_per_problem=4, prefix="alone")
        sent_one = await send_storm(webhook_urls(cluster), one.groups, token)
        state = await wait_processed(cluster, set(sent_one.accepted))
        alone = shape(one, state, sent_one)

        await cluster.restart(second.name)
        two = storm(alerts=ALERTS, problems=10, resources_per_problem=4, prefix="pair")
        urls = webhook_urls(cluster)
        assert len(urls) == 2
        sent_two = await send_storm(urls, two.groups, token)
        state = await wait_processed(cluster, set(sent_two.accepted))
        pair = shape(two, state, sent_two)

        assert pair == alone
        assert sorted(n for _, n in pair.values()) == sorted(two.alerts_per_problem.values())
        assert len(sent_two.accepted) == ALERTS
        # Both replicas did part of the work: competing consumers on one durable.
        handled = [await metric_total(p.port, "warden_alerts_total") for p in cluster.replicas_of("triage")]
        assert all(n > 0 for n in handled), handled
        opened = Counter(
            e.payload(IncidentChanged).service
            for e in await read_topic(cluster, "sre.incident.changed.v1")
            if e.payload(IncidentChanged).change == IncidentState.OPENED
        )
        assert set(opened.values()) == {1}, opened
        assert len(opened) == 20
        report = await status(cluster.layout)
        assert [s["replicas"] for s in report["services"] if s["service"] == "triage"] == [2]
        assert all(s["healthy"] for s in report["streams"])
