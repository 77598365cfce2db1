"""Signed checkpoints: what they add to the chain (a cut tail, a consistently rewritten log, forged
signatures) and how the recorder and the store keep them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.chain import build_record, encode_record
from warden_audit.domain.checkpoint import Checkpoint, sign_checkpoint
from warden_audit.domain.merkle import MerkleAccumulator
from warden_audit.domain.recorder import Recorder
from warden_audit.segments import AuditLogCorrupt, checkpoints_path, segment_path
from warden_audit.verify import load_checkpoints, verify_log
from warden_testkit.audit import TickingClock, check_for, incident_envelope, new_signer, write_log

# 10 records, 4 per segment (000001 = 1-4, 000002 = 5-8, 000003 = 9-10); checkpoints at 3, 6, 9, 10.


@pytest.fixture
def signer() -> Ed25519Signer:
    return new_signer()


@pytest.fixture
async def log(tmp_path: Path, signer: Ed25519Signer) -> Path:
    await write_log(tmp_path, 10, signer=signer)
    return tmp_path


def rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)  # sealed segments are read-only; an attacker with the rights changes that first
    path.write_bytes(data)


def test_clean_log_verifies_every_checkpoint_signature(log: Path, signer: Ed25519Signer) -> None:
    assert [cp.seq for cp in load_checkpoints(log)] == [3, 6, 9, 10]
    report = verify_log(log, check_for(signer))
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.last_checkpoint_seq) == (10, 4, 10)
    assert report.signatures_checked


def test_checkpoint_signs_head_and_merkle_root(log: Path, signer: Ed25519Signer) -> None:
    lines = segment_path(log, 2).read_bytes().splitlines()
    sixth = json.loads(lines[1])
    acc = MerkleAccumulator()
    for n in range(1, 3):
        for line in segment_path(log, n).read_bytes().splitlines():
            record = json.loads(line)
            if record["seq"] <= 6:
                acc.add(record["hash"])
    cp = load_checkpoints(log)[1]
    assert (cp.seq, cp.head_hash, cp.merkle_root, cp.key_id) == (6, sixth["hash"], acc.root(), signer.key_id)


def test_truncated_tail_is_found_at_the_first_missing_record(log: Path, signer: Ed25519Signer) -> None:
    path = segment_path(log, 3)
    rewrite(path, path.read_bytes().splitlines(keepends=True)[0])  # record 10 is gone, the chain still links
    report = verify_log(log, check_for(signer))
    assert not report.ok
    assert (report.first_bad_seq, report.records) == (10, 9)
    assert "tail truncated" in report.problem and "10..10" in report.problem


def test_a_whole_deleted_last_segment_is_found(log: Path, signer: Ed25519Signer) -> None:
    path = segment_path(log, 3)
    path.chmod(0o644)
    path.unlink()
    report = verify_log(log, check_for(signer))
    assert (report.ok, report.first_bad_seq) == (False, 9)
    assert "records 9..10 were removed" in report.problem


def test_truncation_is_found_without_a_key_too(log: Path) -> None:
    path = segment_path(log, 3)
    rewrite(path, path.read_bytes().splitlines(keepends=True)[0])
    report = verify_log(log)
    assert (report.ok, report.first_bad_seq, report.signatures_checked) == (False, 10, False)


def test_a_rewritten_and_rechained_log_is_caught_by_the_checkpoint(log: Path, signer: Ed25519Signer) -> None:
    # Record 5 changed and every later hash recomputed: the chain alone cannot tell.
    first = segment_path(log, 1).read_bytes().splitlines()
    prev = json.loads(first[-1])["hash"]
    forged = []
    for n in range(5, 11):
        env = incident_envelope(n)
        if n == 5:
            env["data"]["title"] = "nothing to see"
        record = build_record(n, prev, env, TickingClock()())
        prev = record["hash"]
        forged.append(encode_record(record))
    rewrite(segment_path(log, 2), b"".join(forged[:4]))
    rewrite(segment_path(log, 3), b"".join(forged[4:]))
    checkpoints_path(log).rename(log / "aside.jsonl")
    assert verify_log(log).ok  # without checkpoints the forgery is a valid chain
    (log / "aside.jsonl").rename(checkpoints_path(log))
    report = verify_log(log, check_for(signer))
    assert not report.ok
    assert report.first_bad_seq == 4  # the first seq after the last checkpoint that still matched (3)
    assert "checkpoint at seq 6" in report.problem and "4..6" in report.problem


def test_a_checkpoint_signed_by_another_key_is_refused(log: Path, signer: Ed25519Signer) -> None:
    intruder = new_signer()
    lines = checkpoints_path(log).read_bytes().splitlines(keepends=True)
    original = Checkpoint.from_json(json.loads(lines[1]))
    fake = sign_checkpoint(
        intruder, original.seq, original.head_hash, original.merkle_root, datetime.fromisoformat(original.at)
    )
    lines[1] = json.dumps(fake.to_json()).encode() + b"\n"
    checkpoints_path(log).write_bytes(b"".join(lines))
    report = verify_log(log, check_for(signer))
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "not signed by a trusted key" in report.problem
    assert verify_log(log, check_for(intruder)).ok is False  # the others are not the intruder's


def test_an_edited_checkpoint_fails_its_signature(log: Path, signer: Ed25519Signer) -> None:
    lines = checkpoints_path(log).read_bytes().splitlines(keepends=True)
    raw = json.loads(lines[0])
    raw["seq"] = 2
    lines[0] = json.dumps(raw).encode() + b"\n"
    checkpoints_path(log).write_bytes(b"".join(lines))
    report = verify_log(log, check_for(signer))
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_unreadable_checkpoint_file_is_reported(log: Path, signer: Ed25519Signer) -> None:
    with checkpoints_path(log).open("ab") as handle:
        handle.write(b"{nope\n")
    report = verify_log(log, check_for(signer))
    assert not report.ok and "checkpoints unreadable" in report.problem


async def test_store_refuses_to_extend_a_log_cut_below_a_checkpoint(log: Path) -> None:
    path = segment_path(log, 3)
    rewrite(path, path.read_bytes().splitlines(keepends=True)[0])
    with pytest.raises(AuditLogCorrupt, match="checkpoint covers seq 10"):
        await LocalSegmentStore(log, 4).recover()


async def test_recorder_resumes_checkpointing_after_restart(log: Path, signer: Ed25519Signer) -> None:
    recorder = Recorder(LocalSegmentStore(log, 4), TickingClock(), signer=signer, checkpoint_every=3)
    await recorder.open()
    assert recorder.last_checkpoint is not None and recorder.last_checkpoint.seq == 10  # the SIEM stream gets it
    assert await recorder.checkpoint() is None  # nothing new since the checkpoint at 10
    for n in range(11, 14):
        await recorder.record(incident_envelope(n))
    assert recorder.last_checkpoint is not None and recorder.last_checkpoint.seq == 13
    await recorder.record(incident_envelope(14))
    cp = await recorder.checkpoint()
    await recorder.close()
    assert cp is not None and cp.seq == 14
    assert [c.seq for c in load_checkpoints(log)] == [3, 6, 9, 10, 13, 14]
    assert verify_log(log, check_for(signer)).ok


async def test_torn_checkpoint_line_is_cut_on_start(log: Path, signer: Ed25519Signer) -> None:
    with checkpoints_path(log).open("ab") as handle:
        handle.write(b'{"seq":1')
    state = await LocalSegmentStore(log, 4).recover()
    assert state.last_checkpoint_seq == 10
    assert checkpoints_path(log).read_bytes().endswith(b"}\n")
    assert verify_log(log, check_for(signer)).ok
