"""The planner store contract, on SQLite and PostgreSQL: state, processed ids, controls and the
outbox survive a reopen; a message id commits once; a record changes only over the version read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from warden_contracts.envelope import envelope_for
from warden_contracts.events import EscalationRaised
from warden_planner.domain.findings import Candidate
from warden_planner.domain.records import AlreadyProcessed, Conflict, IncidentRecord

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
BASE = {"correlationid": "c", "incident_class": "x", "severity": "Sev3", "environment": "dev"}


def letter(incident_id: str = "inc-1"):
    return envelope_for(
        "sre.escalation.raised.v1",
        EscalationRaised(incident_id=incident_id, reason="r", raised_by="warden-planner"),
        source="warden/planner",
        correlationid="c",
    )


async def test_commit_is_durable_and_the_outbox_drains_once(make_store) -> None:
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
    out = letter()
    store = make_store()
    await store.open()
    await store.commit("m-1", record=record, control=("kill_switch:global", "on"), outgoing=[out, out])
    await store.close()

    reopened = make_store()
    await reopened.open()
    try:
        assert await reopened.seen("m-1") and not await reopened.seen("m-2")
        assert await reopened.load("inc-1") == record
        assert await reopened.load("inc-2") is None
        assert await reopened.controls() == {"kill_switch:global": "on"}
        assert [e.id for e in await reopened.unsent()] == [out.id]
        await reopened.mark_sent(out.id)
        assert await reopened.unsent() == []
    finally:
        await reopened.close()


async def test_a_message_id_commits_once_and_the_loser_writes_nothing(make_store) -> None:
    store = make_store()
    await store.open()
    try:
        await store.commit("m-1", record=IncidentRecord(incident_id="inc-1", **BASE))
        late = IncidentRecord(incident_id="inc-2", **BASE)
        with pytest.raises(AlreadyProcessed):
            await store.commit("m-1", record=late, control=("kill_switch:global", "on"), outgoing=[letter("inc-2")])
        assert late.version == 0
        assert await store.load("inc-2") is None
        assert await store.controls() == {}
        assert await store.unsent() == []
    finally:
        await store.close()


async def test_a_record_changes_only_over_the_version_it_was_read_at(make_store) -> None:
    store = make_store()
    await store.open()
    try:
        await store.commit("m-0", record=IncidentRecord(incident_id="inc-1", **BASE))
        with pytest.raises(Conflict):  # a fresh record where one already exists
            await store.commit("m-0b", record=IncidentRecord(incident_id="inc-1", attempt=9, **BASE))
        first, second = await store.load("inc-1"), await store.load("inc-1")
        assert first is not None and second is not None and first.version == 1
        first.attempt = 1
        await store.commit("m-1", record=first, outgoing=[letter()])
        assert first.version == 2
        second.attempt = 2
        with pytest.raises(Conflict):
            await store.commit("m-2", record=second, outgoing=[letter("other")])
        stored = await store.load("inc-1")
        assert stored is not None and (stored.attempt, stored.version) == (1, 2)
        assert not await store.seen("m-2")  # the loser's processed mark was rolled back too
        assert len(await store.unsent()) == 1
    finally:
        await store.close()


async def test_store_lists_only_open_recovered_records(make_store) -> None:
    store = make_store()
    await store.open()
    try:
        base = {"correlationid": "c", "incident_class": "x", "severity": "Sev3", "environment": "dev"}
        rows = [
            IncidentRecord(incident_id="open", recovered_at=NOW, **base),
            IncidentRecord(incident_id="closed", recovered_at=NOW, closed=True, **base),
            IncidentRecord(incident_id="escalated", recovered_at=NOW, escalated=True, **base),
            IncidentRecord(incident_id="acting", **base),
        ]
        for i, row in enumerate(rows):
            await store.commit(f"m{i}", record=row)
        assert [r.incident_id for r in await store.recovered_open()] == ["open"]
    finally:
        await store.close()
