"""Verification streams each segment through one buffer: any buffer size gives the same report,
lines that straddle reads or outgrow the buffer included."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from warden_audit.domain.verification import ChainVerifier, VerifyReport
from warden_audit.segments import list_segments, segment_path
from warden_audit.verify import load_checkpoints, verify_log

FIXTURE = Path(__file__).parent.parent / "fixtures" / "log_before_record_encoder" / "audit"


def walk(audit_dir: Path, chunk_bytes: int) -> VerifyReport:
    verifier = ChainVerifier(load_checkpoints(audit_dir))
    segments = list_segments(audit_dir)
    for index, (number, path) in enumerate(segments):
        source = io.BytesIO(path.read_bytes())
        failure = verifier.feed_segment_file(
            number, path.name, source, last=index == len(segments) - 1, chunk_bytes=chunk_bytes
        )
        if failure is not None:
            return failure
    return verifier.report()


@pytest.mark.parametrize("chunk_bytes", [1, 7, 300, 1000, 4096, 1 << 22])
def test_any_buffer_size_gives_the_same_report(chunk_bytes: int) -> None:
    # The fixture's lines run from about 500 to 3,600 bytes: most sizes here split some of them.
    assert walk(FIXTURE, chunk_bytes) == verify_log(FIXTURE)
    assert walk(FIXTURE, chunk_bytes).records == 13


@pytest.mark.parametrize("chunk_bytes", [5, 1000, 1 << 22])
def test_a_torn_tail_and_an_edit_are_found_whatever_the_buffer(tmp_path: Path, chunk_bytes: int) -> None:
    shutil.copytree(FIXTURE, tmp_path / "torn")
    last = segment_path(tmp_path / "torn", 4)
    last.write_bytes(last.read_bytes()[:-40])
    report = walk(tmp_path / "torn", chunk_bytes)
    assert (report.ok, report.reason, report.segment, report.line) == (False, "torn_line", "000004.jsonl", 1)

    shutil.copytree(FIXTURE, tmp_path / "edited")
    third = segment_path(tmp_path / "edited", 3)
    third.write_bytes(third.read_bytes().replace(b'"m-10"', b'"m-1O"', 1))
    report = walk(tmp_path / "edited", chunk_bytes)
    assert (report.ok, report.first_bad_seq, report.reason, report.line) == (False, 10, "edited", 2)
