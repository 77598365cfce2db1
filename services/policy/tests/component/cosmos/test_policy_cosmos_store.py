"""The policy state on Cosmos DB through the real `azure-cosmos` SDK against an HTTPS gateway
double: the same units of work give the same answers as the SQLite store, a unit of work is one
transactional batch (all or nothing), and replicas racing on an approval, a target or a token are
stopped by ETags / conflicts exactly as on SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind, ProposedAction
from warden_policy.adapters.cosmos_store import CosmosStateStore
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.model import ControlSetting, RunMode
from warden_policy.ports import AlreadyProcessed, Changes, Conflict, Covered, Released, Slot

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def approval(n: int, incident: str = "inc-1", expires_in: timedelta = timedelta(minutes=15)) -> Approval:
    action = ProposedAction(
        action_id=f"act-{n}", kind="restart_service", target=f"svc-{n}", params={}, rationale="r", confidence=0.9
    )
    return Approval(
        approval_id=f"apr-{n}",
        incident_id=incident,
        correlationid=incident,
        request_message_id=f"req-{n}",
        action=action,
        action_hash=f"hash-{n}",
        tier=2,
        environment="prod",
        run_mode=RunMode.REVIEW,
        requested_by="planner",
        summary="s",
        requested_at=NOW,
        expires_at=NOW + expires_in,
    )


def note(n: int) -> Any:
    change = ControlChanged(kind=ControlKind.KILL_SWITCH, value="off", changed_by="test")
    return envelope_for("sre.control.changed.v1", change, source="warden/policy", correlationid=f"c-{n}")


@pytest.fixture
async def container(cosmos: Any) -> AsyncIterator[ContainerProxy]:
    async with CosmosClient(cosmos.url, credential=cosmos.credential) as client:
        yield client.get_database_client("warden").get_container_client("policy")


async def story(store: Any) -> list[Any]:
    seen: list[Any] = []
    out = [note(1), note(2)]
    slot = Slot("svc-1", "act-1", "inc-1", NOW + timedelta(minutes=20))
    await store.apply(
        Changes(
            message_id="m1",
            new_approvals=[approval(1), approval(2, expires_in=-timedelta(minutes=1))],
            acquire=[slot],
            outbox=out,
        ),
        NOW,
    )
    for attempt in (
        Changes(message_id="m1"),
        Changes(new_approvals=[approval(1)]),
        Changes(acquire=[Slot("svc-1", "act-9", "inc-9", NOW + timedelta(minutes=5))]),
    ):
        try:
            await store.apply(attempt, NOW)
            seen.append("applied")
        except (AlreadyProcessed, Conflict) as err:
            seen.append(type(err).__name__)
    seen.append([e.id for e in await store.outbox_of("m1") or []] == [e.id for e in out])
    seen.append(await store.outbox_of("m-unknown"))
    seen.append([a.approval_id for a in await store.pending_for_incident("inc-1")])
    seen.append([a.approval_id for a in await store.due_approvals(NOW)])
    stored = await store.get_approval("apr-1")
    decided = dataclasses.replace(stored, state=ApprovalState.APPROVED, decided_by="alice", approved_by=("alice",))
    await store.apply(
        Changes(
            message_id="m2",
            updated_approvals=[decided],
            used_tokens=[("jti-1", NOW + timedelta(hours=1))],
            release=[("svc-1", "act-1")],
            released=[Released("act-1", "svc-1", "inc-1", NOW)],
            controls=[ControlSetting("kill_switch", "global", "on", "bob")],
        ),
        NOW,
    )
    try:
        await store.apply(Changes(updated_approvals=[decided]), NOW)  # stale version
        seen.append("applied")
    except Conflict:
        seen.append("Conflict")
    again = await store.get_approval("apr-1")
    seen.append((again.state, again.version, again.approved_by))
    seen.append(await store.live_slot("svc-1", NOW))
    seen.append((await store.token_used("jti-1"), await store.token_used("jti-2")))
    seen.append(await store.controls())
    seen.append(await store.released_counts("svc-1", "inc-1", NOW - timedelta(hours=1)))
    seen.append(len(await store.unpublished(NOW)))
    await store.mark_published([out[0].id], NOW)
    seen.append([e.id for e in await store.unpublished(NOW)] == [out[1].id])
    await store.purge(NOW + timedelta(days=1), NOW + timedelta(days=2))
    seen.append((await store.outbox_of("m1"), await store.token_used("jti-1")))
    return seen


async def test_policy_state_answers_like_the_sqlite_store(container: ContainerProxy, tmp_path: Path) -> None:
    sqlite = SqliteStateStore(tmp_path / "policy.db")
    await sqlite.open()
    try:
        expected = await story(sqlite)
    finally:
        await sqlite.close()
    assert await story(CosmosStateStore(container)) == expected
    assert expected[:3] == ["AlreadyProcessed", "Conflict", "Conflict"]


async def test_a_unit_of_work_is_one_batch_and_a_failure_writes_nothing(container: ContainerProxy, cosmos: Any) -> None:
    store = CosmosStateStore(container)
    await store.apply(Changes(message_id="m1", new_approvals=[approval(1)], outbox=[note(1)]), NOW)
    assert [(pk, sorted(ops), ok) for pk, ops, ok in cosmos.batches] == [
        ('"policy"', ["Create", "Create", "Create"], True)
    ]
    before = dict(cosmos.documents)
    with pytest.raises(Conflict, match="approval apr-1 already exists"):
        await store.apply(Changes(message_id="m2", new_approvals=[approval(2), approval(1)], outbox=[note(2)]), NOW)
    assert cosmos.documents == before  # not even m2's marker or apr-2 was written


async def test_two_replicas_racing_on_one_approval_let_one_win(container: ContainerProxy) -> None:
    first, second = CosmosStateStore(container), CosmosStateStore(container)
    await first.apply(Changes(new_approvals=[approval(1)]), NOW)
    seen_by_first = await first.get_approval("apr-1")
    seen_by_second = await second.get_approval("apr-1")
    await second.apply(
        Changes(updated_approvals=[dataclasses.replace(seen_by_second, state=ApprovalState.DENIED)]), NOW
    )
    with pytest.raises(Conflict):
        await first.apply(
            Changes(updated_approvals=[dataclasses.replace(seen_by_first, state=ApprovalState.APPROVED)]), NOW
        )
    final = await first.get_approval("apr-1")
    assert final is not None and final.state is ApprovalState.DENIED and final.version == 2


async def test_from_endpoint_owns_and_closes_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity.aio import DefaultAzureCredential

    closed: list[str] = []
    for name, cls in (("client", CosmosClient), ("credential", DefaultAzureCredential)):
        real = cls.close

        async def recording(self: Any, real: Any = real, name: str = name) -> None:
            closed.append(name)
            await real(self)

        monkeypatch.setattr(cls, "close", recording)
    store = CosmosStateStore.from_endpoint("https://warden.documents.azure.com:443/", "client-id")
    await store.open()
    assert closed == []
    await store.close()
    assert closed == ["client", "credential"]
    with pytest.raises(ValueError, match="WARDEN_COSMOS_ENDPOINT"):
        CosmosStateStore.from_endpoint(None)


async def covers(store: Any) -> list[Any]:
    """A released slot keeps its action hash; covers are written, read per covering action, cleared."""
    seen: list[Any] = []
    slot = Slot("svc-1", "act-1", "inc-1", NOW + timedelta(minutes=20), "hash-1")
    handoff = note(7)
    cover = Covered("act-1", "inc-2", handoff)
    other = Covered("act-9", "inc-3", note(8))
    await store.apply(Changes(message_id="m1", acquire=[slot], covered=[cover, other]), NOW)
    await store.apply(Changes(message_id="m2", covered=[cover]), NOW)  # a redecided cover is written once
    seen.append((await store.live_slot("svc-1", NOW)).action_hash)
    seen.append([(c.action_id, c.incident_id, c.handoff == handoff) for c in await store.covered_by("act-1")])
    await store.apply(Changes(message_id="m3", uncover=["act-1"]), NOW)
    seen.append(await store.covered_by("act-1"))
    seen.append([c.incident_id for c in await store.covered_by("act-9")])
    return seen


async def test_policy_covers_answer_like_the_sqlite_store(container: ContainerProxy, tmp_path: Path) -> None:
    sqlite = SqliteStateStore(tmp_path / "policy.db")
    await sqlite.open()
    try:
        expected = await covers(sqlite)
    finally:
        await sqlite.close()
    assert await covers(CosmosStateStore(container)) == expected
    assert expected == ["hash-1", [("act-1", "inc-2", True)], [], ["inc-3"]]


async def test_rate_counts_and_purges_read_only_what_they_count(container: ContainerProxy, cosmos: Any) -> None:
    """A week of released actions shares the one partition: a decision's rate counts must not read
    them all, nor a purge every processed message still kept; the bounds are the server's."""
    store = CosmosStateStore(container)
    for day in range(1, 8):  # released on other targets and incidents, a day apart each
        old = NOW - timedelta(days=day)
        released = [Released(f"act-old-{day}", f"svc-old-{day}", f"inc-old-{day}", old)]
        await store.apply(Changes(message_id=f"old-{day}", released=released), old)
    recent = [Released("act-1", "svc-1", "inc-1", NOW - timedelta(minutes=5))]
    await store.apply(Changes(message_id="m1", released=recent), NOW)
    await store.apply(Changes(message_id="m2", released=[Released("act-2", "svc-2", "inc-1", NOW)]), NOW)

    cosmos.queries.clear()
    counts = await store.released_counts("svc-1", "inc-1", NOW - timedelta(hours=1))
    assert (counts.on_target_last_hour, counts.for_incident, counts.last_hour) == (1, 2, 2)
    assert sum(returned for _, returned in cosmos.queries) == 4  # the hour's two, the incident's two

    cosmos.queries.clear()
    await store.purge(NOW - timedelta(days=3, hours=1), NOW)
    assert sum(returned for _, returned in cosmos.queries) == 8  # four days of markers and releases
    kinds = sorted(d["type"] for d in cosmos.documents.values())
    assert kinds == ["processed"] * 5 + ["released"] * 5


async def test_a_bound_this_store_does_not_issue_is_refused(container: ContainerProxy) -> None:
    with pytest.raises(ValueError, match="not a bound"):
        await CosmosStateStore(container)._query(("released_at", "!=", "x"), type="released")
