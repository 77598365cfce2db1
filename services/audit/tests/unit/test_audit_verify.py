"""verify_log on a clean log and on each kind of tampering: the first bad record, precisely."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.chain import GENESIS_HASH, build_record, encode_record
from warden_audit.reader import read_records
from warden_audit.segments import segment_path
from warden_audit.verify import verify_log

AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
PER_SEGMENT = 4  # 10 records: 000001 = 1-4, 000002 = 5-8, 000003 = 9-10


def envelope(n: int) -> dict[str, object]:
    return {
        "id": f"m-{n}",
        "source": "warden/triage",
        "type": "sre.incident.changed.v1",
        "correlationid": f"inc-{n % 3}",
        "data": {"incident_id": f"inc-{n % 3}", "title": f"alert {n}"},
    }


def chain(first: int, last: int, prev: str) -> list[dict[str, object]]:
    records = []
    for n in range(first, last + 1):
        record = build_record(n, prev, envelope(n), AT)
        prev = str(record["hash"])
        records.append(record)
    return records


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    store = LocalSegmentStore(tmp_path, PER_SEGMENT)
    await store.recover()
    await store.append(chain(1, 10, GENESIS_HASH))
    await store.close()
    return tmp_path


def lines_of(audit_dir: Path, segment: int) -> list[bytes]:
    return segment_path(audit_dir, segment).read_bytes().splitlines(keepends=True)


def rewrite(audit_dir: Path, segment: int, lines: list[bytes]) -> None:
    path = segment_path(audit_dir, segment)
    path.chmod(0o644)  # a sealed segment is read-only; an attacker with the rights changes that first
    path.write_bytes(b"".join(lines))


def test_clean_log_verifies(log: Path) -> None:
    report = verify_log(log)
    records = list(read_records(log))
    assert report.ok and report.problem == ""
    assert report.records == 10 and report.first_bad_seq is None
    assert [r["seq"] for r in records] == list(range(1, 11))
    assert report.head_hash == records[-1]["hash"]


def test_empty_log_verifies_and_missing_log_does_not(tmp_path: Path) -> None:
    assert not verify_log(tmp_path / "nowhere").ok
    (tmp_path / "segments").mkdir()
    assert verify_log(tmp_path).ok and verify_log(tmp_path).records == 0


def test_one_edited_byte_is_found(log: Path) -> None:
    lines = lines_of(log, 2)
    lines[1] = lines[1].replace(b"alert 6", b"alert 7")  # record 6, one byte, still valid JSON
    rewrite(log, 2, lines)
    report = verify_log(log)
    assert not report.ok
    assert (report.first_bad_seq, report.segment, report.line, report.records) == (6, "000002.jsonl", 2, 5)
    assert "edited" in report.problem


def test_edited_hash_of_a_record_is_found_at_that_record(log: Path) -> None:
    lines = lines_of(log, 1)
    record = json.loads(lines[2])
    lines[2] = encode_record({**record, "hash": "f" * 64})
    rewrite(log, 1, lines)
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line) == (3, "000001.jsonl", 3)


def test_deleted_record_is_found(log: Path) -> None:
    lines = lines_of(log, 2)
    del lines[1]  # record 6
    rewrite(log, 2, lines)
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line) == (6, "000002.jsonl", 2)
    assert "expected seq 6, found 7" in report.problem


def test_reordered_records_are_found(log: Path) -> None:
    lines = lines_of(log, 2)
    lines[1], lines[2] = lines[2], lines[1]  # records 6 and 7
    rewrite(log, 2, lines)
    report = verify_log(log)
    assert (report.first_bad_seq, report.line) == (6, 2)


def test_renumbered_deletion_is_found_by_the_prev_hash(log: Path) -> None:
    lines = lines_of(log, 2)
    seventh = json.loads(lines[2])
    del lines[1]
    lines[1] = encode_record({**seventh, "seq": 6})  # hides the gap in seq, not in the links
    rewrite(log, 2, lines)
    report = verify_log(log)
    assert report.first_bad_seq == 6
    assert "prev_hash" in report.problem


def test_segment_forged_from_genesis_is_found_at_its_first_record(log: Path) -> None:
    forged = chain(5, 8, GENESIS_HASH)  # correct seqs, self-consistent hashes, fresh chain
    rewrite(log, 2, [encode_record(r) for r in forged])
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line) == (5, "000002.jsonl", 1)
    assert "segment replaced" in report.problem


def test_segment_forged_on_the_right_link_breaks_the_next_segment(log: Path) -> None:
    previous_last = json.loads(lines_of(log, 1)[-1])["hash"]
    forged = chain(5, 8, previous_last)
    forged[2] = build_record(7, forged[1]["hash"], {**envelope(7), "data": {"title": "nothing happened"}}, AT)
    forged[3] = build_record(8, forged[2]["hash"], envelope(8), AT)
    rewrite(log, 2, [encode_record(r) for r in forged])
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line) == (9, "000003.jsonl", 1)


def test_swapped_segment_files_are_found(log: Path) -> None:
    first, second = lines_of(log, 1), lines_of(log, 2)
    rewrite(log, 1, second)
    rewrite(log, 2, first)
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line) == (1, "000001.jsonl", 1)


def test_missing_segment_is_found(log: Path) -> None:
    segment_path(log, 2).unlink()
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment) == (5, "000003.jsonl")
    assert "segment" in report.problem


def test_unparsable_line_is_found(log: Path) -> None:
    lines = lines_of(log, 1)
    lines[2] = b"{bad\n"
    rewrite(log, 1, lines)
    report = verify_log(log)
    assert (report.first_bad_seq, report.segment, report.line, report.records) == (3, "000001.jsonl", 3, 2)
    assert "unparsable" in report.problem


def test_torn_last_line_is_reported(log: Path) -> None:
    path = segment_path(log, 3)
    path.write_bytes(path.read_bytes() + b'{"causationid":null,"corr')
    report = verify_log(log)
    assert (report.ok, report.records, report.first_bad_seq, report.line) == (False, 10, 11, 3)
    assert "torn" in report.problem


def test_records_off_the_fast_layout_verify_and_their_edits_are_found(tmp_path: Path) -> None:
    """Ids that need escaping leave the verifier's inlined fast path for the general check, which
    accepts the same records and finds the same damage."""
    prev, records = GENESIS_HASH, []
    for n, message_id in enumerate(["plain-1", 'quote"2', "back\\slash-3", "plain-4"], 1):
        record = build_record(n, prev, {**envelope(n), "id": message_id}, AT)
        prev = str(record["hash"])
        records.append(record)
    folder = tmp_path / "segments"
    folder.mkdir()
    path = segment_path(tmp_path, 1)
    path.write_bytes(b"".join(encode_record(r) for r in records))
    assert verify_log(tmp_path).ok and verify_log(tmp_path).records == 4

    edited = path.read_bytes().replace(b"alert 3", b"alert X")
    path.write_bytes(edited)
    report = verify_log(tmp_path)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 3, "edited")
