"""A log written before the record encoder (commit c1f1487: `canonical_json` of each whole body)
still verifies, re-encodes byte for byte, is extended by today's code, and still shows tampering.

The fixture `fixtures/log_before_record_encoder/` was written by that commit's Recorder and
LocalSegmentStore (4 records per segment, a signed checkpoint every 5, a fixed Ed25519 key): awkward
strings, floats, big integers, a duplicate, a message id full of quotes, a batch and a group commit.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_audit.adapters.ed25519_signer import Ed25519Signer, trusted_key_files, trusted_keys
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.chain import build_record
from warden_audit.domain.checkpoint import SignatureCheck
from warden_audit.domain.recorder import Recorder
from warden_audit.segments import list_segments, segment_path
from warden_audit.verify import verify_log
from warden_security.signatures import load_verifying_key

FIXTURE = Path(__file__).parent.parent / "fixtures" / "log_before_record_encoder"
CHAIN_MEMBERS = {"causationid", "correlationid", "envelope", "hash", "message_id", "prev_hash"}
CHAIN_MEMBERS |= {"recorded_at", "seq", "source", "subject", "type"}


@pytest.fixture
def old_log(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE / "audit", tmp_path / "audit")
    return tmp_path / "audit"


def trusted() -> SignatureCheck:
    return trusted_key_files([FIXTURE / "audit-signing.pub.pem"])


def test_the_old_log_verifies_with_its_signatures(old_log: Path) -> None:
    report = verify_log(old_log, trusted())
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.signatures_checked) == (13, 3, True)


def test_every_old_line_is_what_the_encoder_writes_today(old_log: Path) -> None:
    lines = [line for _, path in list_segments(old_log) for line in path.read_bytes().splitlines(keepends=True)]
    assert len(lines) == 13
    for line in lines:
        stored = json.loads(line)
        extra = {k: v for k, v in stored.items() if k not in CHAIN_MEMBERS}
        at = datetime.fromisoformat(stored["recorded_at"])
        rebuilt = build_record(stored["seq"], stored["prev_hash"], stored["envelope"], at, extra or None)
        assert rebuilt.line == line
        assert rebuilt["hash"] == stored["hash"]


async def test_todays_recorder_extends_the_old_log_and_it_still_verifies(old_log: Path) -> None:
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    now = datetime(2026, 11, 22, tzinfo=UTC)
    recorder = Recorder(LocalSegmentStore(old_log, 4), lambda: now + timedelta(seconds=1), signer=signer)
    await recorder.open()
    assert recorder.head[0] == 13
    duplicate = await recorder.record({"id": "m-1", "type": "t"})  # recorded in the old log
    assert duplicate.duplicate
    results = await recorder.record_many([({"id": f"new-{n}", "type": "t", "data": {"n": n}}, None) for n in range(6)])
    assert [r.record["seq"] for r in results if r.record] == list(range(14, 20))
    await recorder.close()
    both = trusted_keys([load_verifying_key(FIXTURE / "audit-signing.pub.pem"), signer.public_key])
    report = verify_log(old_log, both)
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.signatures_checked) == (19, 4, True)


def test_an_edited_old_record_is_found(old_log: Path) -> None:
    path = segment_path(old_log, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"m-6 \\"quoted\\"', b'"m-6 \\"quotes\\"', 1)
    assert lines[1] != path.read_bytes().splitlines(keepends=True)[1]
    path.chmod(0o644)
    path.write_bytes(b"".join(lines))
    report = verify_log(old_log, trusted())
    assert not report.ok
    assert (report.first_bad_seq, report.reason, report.segment, report.line) == (6, "edited", "000002.jsonl", 2)
