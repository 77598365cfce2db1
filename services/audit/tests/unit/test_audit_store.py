"""The local segment store: sealing, crash recovery (torn last line), restart continuing the chain."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import pytest
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.chain import GENESIS_HASH, build_record, encode_record
from warden_audit.domain.recorder import Recorder
from warden_audit.reader import read_records
from warden_audit.segments import AuditLogCorrupt, segment_path
from warden_audit.verify import verify_log

_ticks = count()


def clock() -> datetime:
    return datetime(2026, 11, 21, 10, 0, next(_ticks) % 60, tzinfo=UTC)


def envelope(n: int) -> dict[str, object]:
    return {
        "id": f"m-{n}",
        "source": "warden/policy",
        "type": "sre.policy.decided.v1",
        "correlationid": "inc-9",
        "data": {"n": n},
    }


async def recorder_on(audit_dir: Path, per_segment: int = 3) -> Recorder:
    recorder = Recorder(LocalSegmentStore(audit_dir, per_segment), clock)
    await recorder.open()
    return recorder


async def test_full_segments_are_sealed_read_only_and_a_new_one_started(tmp_path: Path) -> None:
    recorder = await recorder_on(tmp_path)
    for n in range(1, 8):
        await recorder.record(envelope(n))
    await recorder.close()
    modes = [stat.S_IMODE(segment_path(tmp_path, i).stat().st_mode) for i in (1, 2)]
    assert modes == [0o400, 0o400]
    assert stat.S_IMODE(segment_path(tmp_path, 3).stat().st_mode) & stat.S_IWUSR
    assert [len(segment_path(tmp_path, i).read_bytes().splitlines()) for i in (1, 2, 3)] == [3, 3, 1]
    assert verify_log(tmp_path).ok and verify_log(tmp_path).records == 7


async def test_restart_continues_seq_chain_and_dedup(tmp_path: Path) -> None:
    first = await recorder_on(tmp_path)
    for n in range(1, 5):
        await first.record(envelope(n))
    head = first.head
    await first.close()

    second = await recorder_on(tmp_path)
    assert second.head == head
    again = await second.record(envelope(4))  # redelivered after the restart
    assert again.duplicate and again.record is not None and again.record["seq"] == 4
    fresh = await second.record(envelope(5))
    await second.close()
    assert fresh.record is not None
    assert (fresh.record["seq"], fresh.record["prev_hash"]) == (5, head[1])
    assert [r["message_id"] for r in read_records(tmp_path)] == [f"m-{n}" for n in range(1, 6)]
    assert verify_log(tmp_path).ok


async def test_torn_last_line_is_truncated_and_logged_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await recorder_on(tmp_path, per_segment=10)
    for n in range(1, 4):
        await first.record(envelope(n))
    await first.close()
    path = segment_path(tmp_path, 1)
    intact = path.read_bytes()
    torn = encode_record(build_record(4, "0" * 64, envelope(4), clock()))[:57]
    path.write_bytes(intact + torn)  # the crash hit mid-write: record 4 was never acknowledged
    assert not verify_log(tmp_path).ok

    with caplog.at_level(logging.WARNING, logger="warden.audit.store"):
        second = await recorder_on(tmp_path, per_segment=10)
    assert path.read_bytes() == intact
    assert any("torn" in r.getMessage() and r.__dict__.get("bytes_removed") == 57 for r in caplog.records)
    assert second.head[0] == 3
    result = await second.record(envelope(4))  # redelivered: recorded now, once
    await second.close()
    assert result.record is not None and result.record["seq"] == 4
    report = verify_log(tmp_path)
    assert report.ok and report.records == 4


async def test_several_complete_unacknowledged_lines_survive_and_dedup(tmp_path: Path) -> None:
    store = LocalSegmentStore(tmp_path, 10)
    await store.recover()
    records, prev = [], GENESIS_HASH
    for n in range(1, 4):
        records.append(build_record(n, prev, envelope(n), clock()))
        prev = records[-1]["hash"]
    await store.append(records)
    await store.close()
    state = await LocalSegmentStore(tmp_path, 10).recover()
    assert (state.last_seq, state.last_hash) == (3, prev)
    assert state.message_ids == {"m-1", "m-2", "m-3"}
    assert [r["seq"] for r in state.recent] == [1, 2, 3]


async def test_a_full_segment_left_unsealed_by_a_crash_is_sealed_on_start(tmp_path: Path) -> None:
    recorder = await recorder_on(tmp_path)
    for n in range(1, 4):
        await recorder.record(envelope(n))
    await recorder.close()
    path = segment_path(tmp_path, 1)
    path.chmod(0o644)
    await recorder_on(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o400


async def test_a_broken_chain_refuses_to_start(tmp_path: Path) -> None:
    recorder = await recorder_on(tmp_path, per_segment=10)
    for n in range(1, 4):
        await recorder.record(envelope(n))
    await recorder.close()
    path = segment_path(tmp_path, 1)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(AuditLogCorrupt, match="expected seq 2"):
        await LocalSegmentStore(tmp_path, 10).recover()


async def test_an_edited_last_record_refuses_to_start(tmp_path: Path) -> None:
    recorder = await recorder_on(tmp_path, per_segment=10)
    for n in range(1, 3):
        await recorder.record(envelope(n))
    await recorder.close()
    path = segment_path(tmp_path, 1)
    path.write_bytes(path.read_bytes().replace(b'"n":2', b'"n":3'))
    with pytest.raises(AuditLogCorrupt, match="does not match its hash"):
        await LocalSegmentStore(tmp_path, 10).recover()
