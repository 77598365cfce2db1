"""Two planner replicas on one database (two stores, two connections), racing on one incident:
whatever each receives, the incident is planned once and a redelivered message is decided once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import IncidentChanged, IncidentState
from warden_planner.adapters.sql_store import SqlStore
from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.findings import Candidate, Finding
from warden_planner.domain.records import IncidentRecord
from warden_testkit.contracts import incident_payload

ROUNDS = 6
PLAN = "sre.plan.proposed.v1"
LEAK = Finding(
    runbook="memory_pressure@1",
    summary="checkout leaking",
    candidates=[Candidate(kind="restart_service", target="checkout", rationale="free", confidence=0.8)],
)


class Rendezvous:
    """A planner whose investigations wait until both replicas are investigating, so both have
    read the incident before either commits: the race is certain, not left to the scheduler."""

    def __init__(self, parties: int = 2) -> None:
        self.runs = 0
        self._parties = parties
        self._all_in = asyncio.Event()

    async def investigate(self, incident: IncidentChanged) -> Finding:
        self.runs += 1
        if self.runs >= self._parties:
            self._all_in.set()
        await self._all_in.wait()
        return LEAK


def incident(incident_id: str, change: IncidentState = IncidentState.OPENED, alerts: int = 1) -> Envelope:
    payload = incident_payload(incident_id, change=change, alert_count=alerts, opened_at=datetime.now(UTC))
    return envelope_for("sre.incident.changed.v1", payload, source="warden/triage", correlationid=incident_id)


@pytest.fixture
async def replicas(make_store) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    first, second = make_store(), make_store()
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


def replica(store: SqlStore, planner: Rendezvous) -> PlanningService:
    return PlanningService(planner, store, default_catalog(), lambda: datetime.now(UTC))


async def plans_for(store: SqlStore, incident_id: str) -> list[Envelope]:
    return [e for e in await store.unsent() if e.type == PLAN and e.data["incident_id"] == incident_id]


async def test_one_message_delivered_to_both_replicas_is_decided_once(replicas) -> None:
    first, second = replicas
    for n in range(ROUNDS):
        planner = Rendezvous()
        opened = incident(f"inc-same-{n}")
        await asyncio.gather(replica(first, planner).on_incident(opened), replica(second, planner).on_incident(opened))
        assert planner.runs == 2  # both investigated: both really raced
        assert len(await plans_for(second, f"inc-same-{n}")) == 1
        record = await first.load(f"inc-same-{n}")
        assert record is not None and record.attempt == 1 and record.version == 1


async def test_two_updates_of_one_incident_on_two_replicas_plan_it_once(replicas) -> None:
    first, second = replicas
    for n in range(ROUNDS):
        planner = Rendezvous()
        opened, updated = incident(f"inc-two-{n}"), incident(f"inc-two-{n}", IncidentState.UPDATED, alerts=2)
        await asyncio.gather(replica(first, planner).on_incident(opened), replica(second, planner).on_incident(updated))
        assert planner.runs == 2
        assert len(await plans_for(first, f"inc-two-{n}")) == 1
        record = await second.load(f"inc-two-{n}")
        assert record is not None and record.attempt == 1 and record.outstanding
        # The loser read the winner's record and decided again: both messages are processed.
        assert await first.seen(opened.id) and await first.seen(updated.id)
        assert any("no re-plan" in line for line in record.timeline)


async def test_two_replicas_sweeping_one_recovered_incident_hand_it_off_once(replicas) -> None:
    first, second = replicas
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    for n in range(ROUNDS):
        record = IncidentRecord(
            incident_id=f"inc-rec-{n}",
            correlationid="c",
            incident_class="memory_pressure",
            severity="Sev2",
            environment="dev",
            recovered_at=long_ago,
        )
        await first.commit(f"seed-{n}", record=record)
        planner = Rendezvous(parties=1)
        await asyncio.gather(replica(first, planner).sweep_recovered(), replica(second, planner).sweep_recovered())
        handed = [
            e
            for e in await first.unsent()
            if e.type == "sre.escalation.raised.v1" and e.data["incident_id"] == f"inc-rec-{n}"
        ]
        assert len(handed) == 1
        stored = await second.load(f"inc-rec-{n}")
        assert stored is not None and stored.escalated and stored.version == 2
