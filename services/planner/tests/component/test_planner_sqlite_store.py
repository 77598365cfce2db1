"""The SQLite store: state, processed ids, controls and the outbox survive a reopen."""

from __future__ import annotations

from pathlib import Path

from warden_contracts.envelope import envelope_for
from warden_contracts.events import EscalationRaised
from warden_planner.adapters.sqlite_store import SqliteStore
from warden_planner.domain.findings import Candidate
from warden_planner.domain.records import IncidentRecord


async def test_commit_is_durable_and_the_outbox_drains_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "planner.db"
    record = IncidentRecord(
        incident_id="inc-1",
        correlationid="c",
        incident_class="memory_pressure",
        severity="Sev2",
        environment="dev",
        attempt=1,
        outstanding=True,
        candidates=[Candidate(kind="restart_service", target="checkout", rationale="r", confidence=0.8)],
    )
    letter = envelope_for(
        "sre.escalation.raised.v1",
        EscalationRaised(incident_id="inc-1", reason="r", raised_by="warden-planner"),
        source="warden/planner",
        correlationid="c",
    )
    store = SqliteStore(path)
    await store.open()
    await store.commit("m-1", record=record, control=("kill_switch:global", "on"), outgoing=[letter, letter])
    await store.close()

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.seen("m-1") and not await reopened.seen("m-2")
        assert await reopened.load("inc-1") == record
        assert await reopened.load("inc-2") is None
        assert await reopened.controls() == {"kill_switch:global": "on"}
        assert [e.id for e in await reopened.unsent()] == [letter.id]
        await reopened.mark_sent(letter.id)
        assert await reopened.unsent() == []
    finally:
        await reopened.close()
