"""The recorder against an in-memory store: ordering, exactly-once, group commit, failure resync."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from warden_audit.domain.chain import GENESIS_HASH, record_hash
from warden_audit.domain.recorder import ChainState, Recorder


class MemoryStore:
    """Fake at the port: a list is the log; `fail_next` makes one append fail after half-writing."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.append_calls = 0
        self.recover_calls = 0
        self.fail_next = False

    async def recover(self) -> ChainState:
        self.recover_calls += 1
        last = self.records[-1] if self.records else None
        return ChainState(
            last["seq"] if last else 0,
            last["hash"] if last else GENESIS_HASH,
            {r["message_id"] for r in self.records},
            copy.deepcopy(self.records[-5:]),
        )

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.append_calls += 1
        await asyncio.sleep(0)  # like the thread hop of the real store: others queue up meanwhile
        if self.fail_next:
            self.fail_next = False
            self.records.extend(dict(r) for r in records[:1])  # the crash left a prefix durable
            raise OSError("disk full")
        self.records.extend(dict(r) for r in records)

    async def close(self) -> None:
        return None


def clock() -> datetime:
    return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def envelope(n: int) -> dict[str, object]:
    return {
        "id": f"m-{n}",
        "source": "warden/executor",
        "type": "sre.action.reported.v1",
        "correlationid": "inc-3",
        "data": {"n": n},
    }


def assert_chained(records: list[dict[str, Any]]) -> None:
    prev = GENESIS_HASH
    for seq, record in enumerate(records, 1):
        assert record["seq"] == seq and record["prev_hash"] == prev and record_hash(record) == record["hash"]
        prev = record["hash"]


async def opened(store: MemoryStore) -> Recorder:
    recorder = Recorder(store, clock)
    await recorder.open()
    return recorder


async def test_concurrent_records_are_serialized_and_group_committed() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    results = await asyncio.gather(*(recorder.record(envelope(n)) for n in range(20)))
    assert_chained(store.records)
    assert len(store.records) == 20
    assert store.append_calls < 20  # one fsync covered several callers
    assert sorted(r.record["seq"] for r in results if r.record) == list(range(1, 21))
    assert {r.record["message_id"] for r in results if r.record} == {f"m-{n}" for n in range(20)}


async def test_same_id_twice_yields_one_record_even_in_one_batch() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    together = await asyncio.gather(recorder.record(envelope(1)), recorder.record(envelope(1)))
    later = await recorder.record(envelope(1))
    assert len(store.records) == 1
    assert sorted(r.duplicate for r in (*together, later)) == [False, True, True]
    assert all(r.record is not None and r.record["seq"] == 1 for r in (*together, later))


async def test_a_failed_append_resyncs_from_the_store_before_the_next_one() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    await recorder.record(envelope(1))
    store.fail_next = True
    with pytest.raises(OSError):
        await recorder.record(envelope(2))
    assert len(store.records) == 2  # record 2 reached the disk although the call failed
    redelivered = await recorder.record(envelope(2))
    following = await recorder.record(envelope(3))
    assert redelivered.duplicate
    assert store.recover_calls == 2
    assert_chained(store.records)
    assert [r["message_id"] for r in store.records] == ["m-1", "m-2", "m-3"]
    assert following.record is not None and following.record["seq"] == 3


async def test_old_duplicates_are_acknowledged_without_their_record() -> None:
    store = MemoryStore()
    recorder = Recorder(store, clock, recent_limit=2)
    await recorder.open()
    for n in range(1, 5):
        await recorder.record(envelope(n))
    old = await recorder.record(envelope(1))
    recent = await recorder.record(envelope(4))
    assert (old.duplicate, old.record) == (True, None)
    assert recent.duplicate and recent.record is not None and recent.record["seq"] == 4
    assert len(store.records) == 4


async def test_recording_before_open_is_refused() -> None:
    with pytest.raises(RuntimeError, match="open"):
        await Recorder(MemoryStore(), clock).record(envelope(1))


async def test_a_cancelled_caller_leaves_no_half_known_append() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    first = asyncio.ensure_future(recorder.record(envelope(1)))
    second = asyncio.ensure_future(recorder.record(envelope(2)))
    await asyncio.sleep(0)
    first.cancel()  # the caller gives up while its append is under way
    result = await second
    await asyncio.gather(first, return_exceptions=True)
    assert result.record is not None and result.record["seq"] == 2
    assert [r["message_id"] for r in store.records] == ["m-1", "m-2"]  # written once, in order
    again = await recorder.record(envelope(1))  # the redelivery finds it
    assert again.duplicate and len(store.records) == 2
    assert_chained(store.records)


async def test_one_batch_started_together_is_one_append() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    await asyncio.gather(*(recorder.record(envelope(n)) for n in range(50)))
    assert store.append_calls == 1


async def test_pull_batches_arriving_together_share_one_append_and_keep_their_order() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    batches = [[(envelope(b * 10 + n), None) for n in range(10)] for b in range(4)]
    results = await asyncio.gather(*(recorder.record_many(batch) for batch in batches))
    assert store.append_calls == 1  # four topics' pull batches, one fsync
    assert_chained(store.records)
    for batch, outcome in zip(batches, results, strict=True):
        assert [r.record["message_id"] for r in outcome if r.record] == [e["id"] for e, _ in batch]


async def test_batches_queued_during_an_append_go_together_in_the_next_one() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    first = asyncio.ensure_future(recorder.record_many([(envelope(0), None)]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first append is under way
    later = [recorder.record_many([(envelope(n), None)]) for n in range(1, 4)]
    await asyncio.gather(first, *later)
    assert store.append_calls == 2 and len(store.records) == 4
    assert_chained(store.records)


async def test_a_failed_group_fails_every_batch_in_it_and_resyncs() -> None:
    store = MemoryStore()
    recorder = await opened(store)
    store.fail_next = True
    outcomes = await asyncio.gather(
        recorder.record_many([(envelope(1), None)]), recorder.record_many([(envelope(2), None)]), return_exceptions=True
    )
    assert all(isinstance(o, OSError) for o in outcomes)
    again = await recorder.record_many([(envelope(1), None), (envelope(2), None)])
    assert [r.duplicate for r in again] == [True, False]  # the prefix that reached the disk is found
    assert_chained(store.records)


async def test_one_append_is_one_instant_and_the_next_append_reads_the_clock_again() -> None:
    ticks = iter(datetime(2026, 11, 21, 12, 0, second, tzinfo=UTC) for second in range(10))
    recorder = Recorder(MemoryStore(), lambda: next(ticks))
    await recorder.open()
    first = await recorder.record_many([(envelope(n), None) for n in range(1, 4)])
    second = await recorder.record(envelope(4))
    assert {r.record["recorded_at"] for r in first if r.record} == {"2026-11-21T12:00:00Z"}
    assert second.record is not None and second.record["recorded_at"] == "2026-11-21T12:00:01Z"
