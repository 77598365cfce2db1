"""Verification by worker processes on chunks of lines: the report is the sequential walk's, for a
clean log and for corruption at a chunk boundary, inside a later chunk, or past a checkpoint."""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import pytest
from warden_audit import verify_parallel
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.domain.merkle import MerkleAccumulator, aligned_blocks
from warden_audit.segments import list_segments, segment_path
from warden_audit.verify import VerifyReport, verify_log, verify_processes
from warden_testkit.audit import check_for, new_signer, write_log

# 60 records, 25 per segment (1-25, 26-50, 51-60); a checkpoint every 7 records (inside chunks).
COUNT, PER_SEGMENT = 60, 25


@pytest.fixture
def signer() -> Ed25519Signer:
    return new_signer()


@pytest.fixture
async def log(tmp_path: Path, signer: Ed25519Signer) -> Path:
    await write_log(tmp_path, COUNT, signer=signer, per_segment=PER_SEGMENT, checkpoint_every=7)
    return tmp_path


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of about three lines (the testkit's are ~700 bytes), and the pool however small the log."""
    size = 2000
    monkeypatch.setattr(verify_parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(verify_parallel, "CHUNK_BYTES", size)
    return size


def both(audit_dir: Path, signer: Ed25519Signer, jobs: int = 2) -> VerifyReport:
    sequential = verify_log(audit_dir, check_for(signer), jobs=1)
    parallel = verify_log(audit_dir, check_for(signer), jobs=jobs)
    assert parallel == sequential
    return parallel


def spans_of(audit_dir: Path, segment: int, jobs: int = 2) -> list[tuple[int, int]]:
    """The chunks `both` hands out with `jobs` workers."""
    segments = list_segments(audit_dir)
    spans = verify_parallel._spans(segments, verify_parallel.CHUNK_BYTES, jobs)
    return [(s.start, s.end) for s in spans if segments[s.index][0] == segment]


def seq_at(audit_dir: Path, segment: int, offset: int) -> int:
    """The seq of the line starting at `offset` (every earlier segment is full)."""
    return (segment - 1) * PER_SEGMENT + segment_path(audit_dir, segment).read_bytes()[:offset].count(b"\n") + 1


def edit_at(audit_dir: Path, segment: int, offset: int) -> None:
    """Change one byte of the envelope in the line starting at `offset`."""
    path = segment_path(audit_dir, segment)
    data = bytearray(path.read_bytes())
    at = data.index(b'"id":"', offset) + 6
    data[at] = ord("Z") if data[at] != ord("Z") else ord("Y")
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.mark.usefixtures("chunks")
@pytest.mark.parametrize("jobs", [2, 3])
def test_a_clean_log_gives_the_sequential_report(log: Path, signer: Ed25519Signer, jobs: int) -> None:
    assert len(spans_of(log, 1, jobs)) > 3
    report = both(log, signer, jobs)
    assert (report.ok, report.records, report.last_checkpoint_seq) == (True, COUNT, COUNT)
    assert report.checkpoints == len([s for s in range(7, COUNT + 1, 7)]) + 1
    assert verify_processes(log, jobs) == jobs


@pytest.mark.usefixtures("chunks")
@pytest.mark.parametrize("jobs", [2, 3])
def test_each_segment_is_cut_into_a_multiple_of_jobs_runs_of_about_equal_size(log: Path, jobs: int) -> None:
    for segment in (1, 2, 3):
        spans = spans_of(log, segment, jobs)
        sizes = [end - start for start, end in spans]
        assert len(spans) % jobs == 0
        assert spans[0][0] == 0 and spans[-1][1] == segment_path(log, segment).stat().st_size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # no gap, no overlap
        assert max(sizes) - min(sizes) <= 2 * max(
            len(line) for line in segment_path(log, segment).read_bytes().splitlines(True)
        )


@pytest.mark.usefixtures("chunks")
@pytest.mark.parametrize("which", ["first line of a chunk", "last line of a chunk"])
def test_an_edit_at_a_chunk_boundary(log: Path, signer: Ed25519Signer, which: str) -> None:
    start, end = spans_of(log, 2)[1]
    data = segment_path(log, 2).read_bytes()
    offset = start if which.startswith("first") else data.rindex(b"\n", 0, end - 1) + 1
    seq = seq_at(log, 2, offset)
    edit_at(log, 2, offset)
    report = both(log, signer)
    assert (report.ok, report.first_bad_seq, report.reason, report.segment) == (False, seq, "edited", "000002.jsonl")
    assert report.line == seq - PER_SEGMENT


@pytest.mark.usefixtures("chunks")
def test_a_deleted_first_line_of_a_chunk_breaks_the_stitch(log: Path, signer: Ed25519Signer) -> None:
    start, _ = spans_of(log, 1)[2]
    path = segment_path(log, 1)
    data = path.read_bytes()
    seq = seq_at(log, 1, start)
    path.chmod(0o644)
    path.write_bytes(data[:start] + data[data.index(b"\n", start) + 1 :])  # the rest still links
    report = both(log, signer)
    assert (report.ok, report.first_bad_seq, report.reason, report.line) == (False, seq, "sequence", seq)


@pytest.mark.usefixtures("chunks")
def test_an_edit_in_a_later_chunk_of_the_last_segment(log: Path, signer: Ed25519Signer) -> None:
    start, _ = spans_of(log, 3)[-1]
    seq = seq_at(log, 3, start)
    edit_at(log, 3, start)
    report = both(log, signer)
    assert (report.ok, report.first_bad_seq, report.reason, report.segment) == (False, seq, "edited", "000003.jsonl")
    assert report.records == seq - 1


@pytest.mark.usefixtures("chunks")
def test_a_torn_tail_and_a_missing_segment(log: Path, signer: Ed25519Signer) -> None:
    path = segment_path(log, 3)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-30])
    assert both(log, signer).reason == "torn_line"
    middle = segment_path(log, 2)
    middle.chmod(0o644)
    middle.unlink()
    assert both(log, signer).reason == "segment_missing"


def test_small_logs_and_one_job_stay_in_this_process(log: Path) -> None:
    assert verify_processes(log) == 1  # 60 records: far below MIN_PARALLEL_BYTES
    assert verify_processes(log, 1) == 1
    assert verify_processes(log / "nowhere", 4) == 1


def test_aligned_blocks_fold_to_the_same_tree_and_stop_at_every_cut() -> None:
    rng = random.Random(15)
    for _ in range(200):
        count = rng.randint(0, 80)
        digests = [hashlib.sha256(b"%d" % n).digest() for n in range(count)]
        one_by_one, roots = MerkleAccumulator(), {}
        for n, digest in enumerate(digests, 1):
            one_by_one.add_digest(digest)
            roots[n] = one_by_one.root()
        cuts = sorted(rng.sample(range(1, count + 1), min(count, rng.randint(0, 6))))
        folded, met, position = MerkleAccumulator(), [], 0
        while position < count:
            run = digests[position : position + rng.randint(1, 17)]
            for height, node in aligned_blocks(run, position, cuts):
                folded.add_block(height, node)
                if folded.size in cuts:
                    assert folded.root() == roots[folded.size]
                    met.append(folded.size)
            position += len(run)
        assert (folded.size, folded._peaks, met) == (count, one_by_one._peaks, cuts)
