"""Look-ups for the CLI: by correlation id, and since a seq cursor (skipping whole segments)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import Recorder
from warden_audit.query import records_for, records_since
from warden_audit.reader import read_records
from warden_audit.segments import segment_path


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    recorder = Recorder(LocalSegmentStore(tmp_path, 4), lambda: datetime(2026, 11, 21, tzinfo=UTC))
    await recorder.open()
    for n in range(1, 11):
        correlation = "inc-a" if n % 2 else 'inc-"b"'
        await recorder.record(
            {
                "id": f"m-{n}",
                "source": "warden/triage",
                "type": "sre.incident.changed.v1",
                "correlationid": correlation,
                "data": {"note": "inc-a" if n == 4 else ""},
            }
        )
    await recorder.close()
    return tmp_path


def test_read_records_spans_segments_in_order(log: Path) -> None:
    assert [r["seq"] for r in read_records(log)] == list(range(1, 11))


def test_records_for_a_correlation_id(log: Path) -> None:
    assert [r["seq"] for r in records_for(log, "inc-a")] == [1, 3, 5, 7, 9]  # not 4: only mentions it
    assert [r["seq"] for r in records_for(log, 'inc-"b"')] == [2, 4, 6, 8, 10]
    assert records_for(log, "inc-unknown") == []


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [(0, list(range(1, 11))), (3, list(range(4, 11))), (4, list(range(5, 11))), (9, [10]), (10, []), (99, [])],
)
def test_records_since_a_cursor(log: Path, cursor: int, expected: list[int]) -> None:
    assert [r["seq"] for r in records_since(log, cursor)] == expected


def test_records_since_does_not_read_segments_before_the_cursor(log: Path) -> None:
    path = segment_path(log, 1)
    path.chmod(0o644)
    path.write_bytes(b"\x00 not read \x00\n" + path.read_bytes().split(b"\n", 1)[1])
    assert [r["seq"] for r in records_since(log, 4)] == list(range(5, 11))
