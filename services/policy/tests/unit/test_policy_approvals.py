"""Approval state transitions, optimistic concurrency in the store, exactly-once processing."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending, ProposedAction
from warden_policy.adapters.postgres_store import PostgresStateStore
from warden_policy.adapters.sql_store import RELEASED_COUNTS
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.adapters.stores import open_store
from warden_policy.domain.approvals import Approval, ApprovalState, TransitionError
from warden_policy.domain.model import RunMode
from warden_policy.domain.rules import Counts
from warden_policy.ports import AlreadyProcessed, Changes, Conflict, Released, Slot
from warden_policy.relay import process_once
from warden_testkit.postgres import POSTGRES_URL

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def approval(**overrides: object) -> Approval:
    base = Approval(
        approval_id="apr-1",
        incident_id="inc-1",
        correlationid="inc-1",
        request_message_id="msg-req",
        action=ProposedAction(
            action_id="act-1", kind="restart_service", target="checkout", params={}, rationale="r", confidence=0.9
        ),
        action_hash="h",
        tier=1,
        environment="dev",
        run_mode=RunMode.REVIEW,
        requested_by="warden-planner",
        summary="s",
        requested_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_policy_pending_moves_to_each_terminal_state_once() -> None:
    pending = approval()
    approved = pending.approve("alice", "ok", NOW)
    assert (approved.state, approved.decided_by, approved.version) == (ApprovalState.APPROVED, "alice", 1)
    assert pending.deny("bob", "no", NOW).state is ApprovalState.DENIED
    assert pending.supersede("incident resolved").state is ApprovalState.SUPERSEDED
    expired = pending.expire(pending.expires_at)
    assert expired.state is ApprovalState.EXPIRED and "no action taken" in expired.reason
    for terminal in (approved, expired):
        with pytest.raises(TransitionError):
            terminal.approve("bob", "", NOW)
        with pytest.raises(TransitionError):
            terminal.supersede("again")


def test_policy_deadline_closes_the_approval_before_the_timer_runs() -> None:
    pending = approval()
    after = pending.expires_at + timedelta(seconds=1)
    assert pending.is_due(after) and not pending.is_open(after)
    with pytest.raises(TransitionError, match="expired"):
        pending.approve("alice", "late", after)
    with pytest.raises(TransitionError, match="not past its deadline"):
        pending.expire(NOW)


async def test_policy_optimistic_concurrency_conflict_then_redecide(stores) -> None:
    first, second = stores
    await first.apply(Changes(new_approvals=[approval()]), NOW)
    seen_by_first = await first.get_approval("apr-1")
    seen_by_second = await second.get_approval("apr-1")
    assert seen_by_first and seen_by_second and seen_by_first.version == seen_by_second.version == 1

    await first.apply(Changes(updated_approvals=[seen_by_first.approve("alice", "ok", NOW)]), NOW)
    late = seen_by_second.supersede("incident resolved")
    with pytest.raises(Conflict):
        await second.apply(Changes(updated_approvals=[late], outbox=[_msg("lost")]), NOW)

    reloaded = await second.get_approval("apr-1")
    assert reloaded and reloaded.state is ApprovalState.APPROVED and reloaded.version == 2
    assert await second.unpublished(NOW) == []  # the conflicting unit of work wrote nothing


async def test_policy_target_slot_is_exclusive_until_released_or_lapsed(stores) -> None:
    store, _ = stores
    lease = NOW + timedelta(minutes=5)
    await store.apply(Changes(acquire=[Slot("checkout", "act-1", "inc-1", lease)]), NOW)
    with pytest.raises(Conflict):
        await store.apply(Changes(acquire=[Slot("checkout", "act-2", "inc-2", lease)]), NOW)
    await store.apply(Changes(acquire=[Slot("checkout", "act-1", "inc-1", lease + timedelta(minutes=5))]), NOW)
    assert (await store.live_slot("checkout", lease + timedelta(minutes=1))).action_id == "act-1"
    await store.apply(Changes(release=[("checkout", "act-1")]), NOW)
    assert await store.live_slot("checkout", NOW) is None
    await store.apply(Changes(acquire=[Slot("payments", "act-3", "inc-3", lease)]), NOW)
    await store.apply(
        Changes(acquire=[Slot("payments", "act-4", "inc-4", lease + timedelta(hours=1))]), lease + timedelta(seconds=1)
    )
    assert (await store.live_slot("payments", lease + timedelta(seconds=2))).action_id == "act-4"


def _msg(action_id: str) -> Envelope:
    return envelope_for(
        "sre.action.pending.v1", ActionPending(action_id=action_id), source="warden/policy", correlationid="inc-1"
    )


async def test_policy_process_once_replays_the_stored_outbox(stores) -> None:
    store, _ = stores
    calls: list[int] = []
    sent = [_msg("act-1"), _msg("act-2")]

    async def attempt() -> Changes:
        calls.append(1)
        return Changes(outbox=list(sent))

    first = await process_once(store, lambda: NOW, "cause-1", attempt)
    again = await process_once(store, lambda: NOW, "cause-1", attempt)
    assert calls == [1]
    assert [e.id for e in first] == [e.id for e in again] == [e.id for e in sent]
    assert [e.id for e in await store.unpublished(NOW)] == [e.id for e in sent]
    await store.mark_published([sent[0].id], NOW)
    assert [e.id for e in await store.unpublished(NOW)] == [sent[1].id]


async def test_policy_sent_marks_are_written_by_the_next_transaction(stores) -> None:
    """Marking sent messages opens no transaction of its own (it stood between a decision's
    acknowledgements and its handler's return): the store's next transaction writes the marks,
    one that rolls back leaves them to the one after, and closing writes what is left."""
    store, other = stores
    sent = [_msg("act-1"), _msg("act-2")]
    await store.apply(Changes(message_id="cause-1", outbox=list(sent)), NOW)
    await store.mark_published([sent[0].id], NOW)
    assert [e.id for e in await other.unpublished(NOW)] == [e.id for e in sent]  # not written yet
    with pytest.raises(AlreadyProcessed):
        await store.apply(Changes(message_id="cause-1"), NOW)
    assert [e.id for e in await other.unpublished(NOW)] == [e.id for e in sent]  # rolled back with it
    later = _msg("act-3")
    await store.apply(Changes(message_id="cause-2", outbox=[later]), NOW)
    assert [e.id for e in await other.unpublished(NOW)] == [sent[1].id, later.id]
    await store.mark_published([sent[1].id], NOW)
    await store.close()
    assert [e.id for e in await other.unpublished(NOW)] == [later.id]


async def test_policy_process_once_redecides_after_a_conflict(stores) -> None:
    first, second = stores
    await first.apply(Changes(new_approvals=[approval()]), NOW)
    stale = await second.get_approval("apr-1")
    await first.apply(Changes(updated_approvals=[stale.deny("bob", "no", NOW)]), NOW)
    decisions: list[ApprovalState] = []

    async def attempt() -> Changes:
        current = await second.get_approval("apr-1") if decisions else stale
        decisions.append(current.state)
        if current.state is not ApprovalState.PENDING:
            return Changes()
        return Changes(updated_approvals=[current.supersede("incident resolved")])

    await process_once(second, lambda: NOW, "cause-2", attempt)
    assert decisions == [ApprovalState.PENDING, ApprovalState.DENIED]
    final = await first.get_approval("apr-1")
    assert final.state is ApprovalState.DENIED and final.version == 2


def test_policy_store_url_chooses_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(None, tmp_path), SqliteStateStore)
    postgres = open_store("postgresql://postgres@127.0.0.1:5432/test?schema=replica_set_a&connect_timeout=3", tmp_path)
    assert isinstance(postgres, PostgresStateStore)
    assert postgres._schema == "replica_set_a" and postgres._url.endswith("/test?connect_timeout=3")
    with pytest.raises(ValueError, match="unsupported policy store URL"):
        open_store("mysql://x", tmp_path)


async def test_policy_released_actions_feed_the_blast_radius_counts(stores) -> None:
    store, replica = stores
    hour_ago = NOW - timedelta(hours=1)
    await store.apply(
        Changes(
            released=[
                Released("a1", "checkout", "inc-1", NOW - timedelta(hours=2)),
                Released("a2", "checkout", "inc-1", NOW - timedelta(minutes=5)),
                Released("a3", "payments", "inc-2", NOW),
            ]
        ),
        NOW,
    )
    assert await replica.released_counts("checkout", "inc-1", hour_ago) == Counts(1, 2, 2)


async def test_policy_release_counts_search_indexes_and_never_scan_the_table(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "policy.db")
    await store.open()
    try:
        await store.apply(Changes(released=[Released("a1", "checkout", "inc-1", NOW)]), NOW)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "policy.db") as db:
        plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {RELEASED_COUNTS}", ("t", "x", "i", "x"))]
    assert len([p for p in plan if p.startswith("SEARCH released USING")]) == 3, plan
    assert not [p for p in plan if p.startswith("SCAN released")], plan


async def test_policy_sqlite_store_upgrades_an_older_data_dir(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "policy.db")
    old.execute(
        "CREATE TABLE approvals (approval_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, correlationid TEXT NOT NULL,"
        " request_message_id TEXT NOT NULL, action TEXT NOT NULL, action_hash TEXT NOT NULL, tier INTEGER NOT NULL,"
        " environment TEXT NOT NULL, run_mode TEXT NOT NULL, requested_by TEXT NOT NULL, summary TEXT NOT NULL,"
        " evidence TEXT NOT NULL, state TEXT NOT NULL, requested_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
        " decided_by TEXT, reason TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL)"
    )
    old.commit()
    old.close()
    store = SqliteStateStore(tmp_path / "policy.db")
    await store.open()
    try:
        await store.apply(Changes(new_approvals=[approval(approvals_required=2, approved_by=("bob",))]), NOW)
        stored = await store.get_approval("apr-1")
        assert stored is not None and stored.approvals_required == 2 and stored.approved_by == ("bob",)
    finally:
        await store.close()


async def test_policy_postgres_store_opens_a_schema_made_before_numbered_migrations(pg_schema: str) -> None:
    """A schema the earlier PostgreSQL store created (no schema_version) keeps its rows."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        await conn.execute("CREATE TABLE processed (message_id TEXT PRIMARY KEY, processed_at TIMESTAMPTZ NOT NULL)")
        await conn.execute(
            "CREATE TABLE outbox (seq BIGSERIAL PRIMARY KEY, envelope_id TEXT NOT NULL UNIQUE, cause_id TEXT,"
            " body TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, published_at TIMESTAMPTZ)"
        )
        await conn.execute("INSERT INTO processed VALUES ('cause-old', now())")
    store = PostgresStateStore(POSTGRES_URL, schema=pg_schema)
    await store.open()
    try:
        assert await store.outbox_of("cause-old") == []
        await store.apply(Changes(message_id="cause-new", new_approvals=[approval()]), NOW)
        assert await store.outbox_of("cause-new") == []
        assert (await store.get_approval("apr-1")) == approval()
    finally:
        await store.close()
