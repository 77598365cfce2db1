"""`warden audit verify` against an attacker who can write the audit folder: recomputing the chain
and emptying checkpoints.jsonl, cutting the tail, emptying everything. Each case asserts the exit
code and the named reason (docs/audit.md, "Anchoring")."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from warden_audit.adapters.anchor_file import AnchorFile
from warden_audit.adapters.anchored_store import AnchoredStore
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.chain import encode_record, record_hash
from warden_audit.domain.recorder import Recorder
from warden_audit.handlers import recorded_envelope
from warden_audit.reader import read_records
from warden_audit.segments import AuditLogCorrupt, checkpoints_path, segment_path
from warden_cli.main import app
from warden_testkit.audit import TickingClock, incident_envelope

runner = CliRunner()
RECORDS, EVERY = 40, 10  # checkpoints at 10, 20, 30, 40; one segment


def anchored_recorder(data_dir: Path, clock: TickingClock | None = None) -> Recorder:
    store = AnchoredStore(
        LocalSegmentStore(data_dir / "audit", 1000), AnchorFile(data_dir / "anchors" / "checkpoints.jsonl")
    )
    signer = Ed25519Signer.from_file(data_dir / "keys" / "audit-signing.pem")
    return Recorder(store, clock or TickingClock(), signer=signer, checkpoint_every=EVERY)


async def record(recorder: Recorder, first: int, last: int) -> None:
    for n in range(first, last + 1):
        await recorder.record(incident_envelope(n))


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    recorder = anchored_recorder(tmp_path)
    await recorder.open()
    await record(recorder, 1, RECORDS)
    await recorder.close()
    return tmp_path


def verify(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(data_dir), *extra])
    return result.exit_code, result.output


def reason(out: str) -> str:
    return out.rsplit("(reason: ", 1)[1].split(")", 1)[0] if "(reason: " in out else ""


def rewrite_from(data_dir: Path, seq: int) -> None:
    """Edit record `seq` and recompute every hash after it: a chain that links perfectly."""
    records = list(read_records(data_dir / "audit", raw=True))
    records[seq - 1]["envelope"]["data"]["title"] = "nothing happened here"
    prev = records[seq - 2]["hash"]
    for r in records[seq - 1 :]:
        r["prev_hash"] = prev
        r["hash"] = prev = record_hash(r)
    write_segment(data_dir, records)


def write_segment(data_dir: Path, records: list[dict[str, Any]]) -> None:
    path = segment_path(data_dir / "audit", 1)
    path.write_bytes(b"".join(encode_record(r) for r in records))


def keep_records(data_dir: Path, count: int) -> None:
    write_segment(data_dir, list(read_records(data_dir / "audit", raw=True))[:count])


def keep_checkpoints(data_dir: Path, count: int) -> None:
    path = checkpoints_path(data_dir / "audit")
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))


def remove_anchor_file(data_dir: Path) -> None:
    (data_dir / "anchors" / "checkpoints.jsonl").unlink()


def siem_copy(data_dir: Path, out: Path) -> Path:
    """What examples/siem_consumer.py --anchor-out keeps: the newest announced checkpoint (a SIEM event)."""
    records = list(read_records(data_dir / "audit", raw=True))
    newest = AnchorFile(data_dir / "anchors" / "checkpoints.jsonl").newest()
    assert newest is not None
    event = recorded_envelope(records[newest.seq - 1], newest).model_dump(mode="json", exclude_none=True)
    out.write_text(json.dumps(event["data"]))
    return out


def test_the_untouched_log_verifies_against_its_anchor_file(data_dir: Path) -> None:
    code, out = verify(data_dir)
    assert code == 0, out
    assert "audit log OK: 40 records, 4 checkpoints" in out and "anchors checked up to seq 40" in out


def test_issue_repro_rewritten_chain_and_emptied_checkpoints_without_anchor_file(data_dir: Path) -> None:
    rewrite_from(data_dir, 30)
    keep_checkpoints(data_dir, 0)
    remove_anchor_file(data_dir)
    code, out = verify(data_dir)
    assert (code, reason(out)) == (1, "no_checkpoint"), out
    assert "records 1..40 are unanchored" in out


def test_rewritten_chain_and_emptied_checkpoints_are_caught_by_the_anchor_file(data_dir: Path) -> None:
    rewrite_from(data_dir, 30)
    keep_checkpoints(data_dir, 0)
    code, out = verify(data_dir)
    assert (code, reason(out)) == (1, "rewritten"), out
    assert "INVALID at record 21" in out and "seq 21..30 was rewritten" in out and "anchor file" in out


def test_emptied_checkpoints_alone_are_named(data_dir: Path) -> None:
    keep_checkpoints(data_dir, 0)
    code, out = verify(data_dir)
    assert (code, reason(out)) == (1, "checkpoints_removed"), out
    assert "lacks the signed checkpoint at seq 10" in out


def test_tail_cut_with_its_checkpoints_is_shorter_than_the_anchor_file(data_dir: Path) -> None:
    keep_records(data_dir, 25)
    keep_checkpoints(data_dir, 2)  # 10, 20: the local files agree with each other
    code, out = verify(data_dir)
    assert (code, reason(out)) == (1, "shorter_than_anchor"), out
    assert "the log ends at seq 25 but a signed checkpoint (from anchor file" in out and "covers seq 40" in out


def test_log_and_checkpoints_emptied_is_not_ok_with_zero_records(data_dir: Path) -> None:
    write_segment(data_dir, [])
    keep_checkpoints(data_dir, 0)
    code, out = verify(data_dir)
    assert (code, reason(out)) == (1, "shorter_than_anchor"), out
    assert "0 records" not in out and "the log ends at seq 0" in out


def test_everything_local_emptied_is_caught_by_the_siem_copy(data_dir: Path, tmp_path_factory: Any) -> None:
    kept = siem_copy(data_dir, tmp_path_factory.mktemp("siem") / "newest-checkpoint.json")
    write_segment(data_dir, [])
    keep_checkpoints(data_dir, 0)
    remove_anchor_file(data_dir)
    assert verify(data_dir)[0] == 0  # nothing local is left to tell
    code, out = verify(data_dir, "--anchor", str(kept))
    assert (code, reason(out)) == (1, "shorter_than_anchor"), out
    assert str(kept) in out


def test_the_siem_copy_catches_a_rewrite_that_also_replaced_the_local_anchors(
    data_dir: Path, tmp_path_factory: Any
) -> None:
    kept = siem_copy(data_dir, tmp_path_factory.mktemp("siem") / "newest-checkpoint.json")
    rewrite_from(data_dir, 35)
    keep_checkpoints(data_dir, 3)
    (data_dir / "anchors" / "checkpoints.jsonl").write_bytes(checkpoints_path(data_dir / "audit").read_bytes())
    code, out = verify(data_dir, "--anchor", str(kept))
    assert (code, reason(out)) == (1, "rewritten"), out
    assert "seq 31..40 was rewritten" in out


def test_a_forged_outside_anchor_is_refused(data_dir: Path, tmp_path_factory: Any) -> None:
    kept = siem_copy(data_dir, tmp_path_factory.mktemp("siem") / "newest-checkpoint.json")
    event = json.loads(kept.read_text())
    event["checkpoint"]["seq"] = 41  # claims more than the log: without a valid signature it proves nothing
    kept.write_text(json.dumps(event))
    code, out = verify(data_dir, "--anchor", str(kept))
    assert (code, reason(out)) == (1, "checkpoint_signature"), out


def test_an_unreadable_anchor_is_an_error_not_a_pass(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "nonsense.json").write_text('{"hello": "world"}')
    code, out = verify(data_dir, "--anchor", str(tmp_path / "nonsense.json"))
    assert (code, reason(out)) == (1, "anchor_unreadable"), out


@pytest.fixture
def served_head(data_dir: Path) -> Iterator[str]:
    """The newest checkpoint served over HTTP the way GET /v1/audit/head answers."""
    newest = AnchorFile(data_dir / "anchors" / "checkpoints.jsonl").newest()
    assert newest is not None
    body = json.dumps({"seq": newest.seq, "hash": newest.head_hash, "checkpoint": newest.to_json()}).encode()

    class Head(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Head)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/audit/head"
    server.shutdown()
    server.server_close()


def test_an_anchor_url_is_checked(data_dir: Path, served_head: str) -> None:
    assert verify(data_dir, "--anchor", served_head)[0] == 0
    keep_records(data_dir, 38)
    keep_checkpoints(data_dir, 3)
    remove_anchor_file(data_dir)
    code, out = verify(data_dir, "--anchor", served_head)
    assert (code, reason(out)) == (1, "shorter_than_anchor"), out


async def test_records_after_the_newest_checkpoint_beyond_the_limit_are_stale(data_dir: Path) -> None:
    recorder = anchored_recorder(data_dir)
    recorder._checkpoint_every = 1000  # a recorder that stopped signing: records keep coming, no checkpoint
    await recorder.open()
    await record(recorder, RECORDS + 1, RECORDS + 6)
    await recorder._store.close()  # no closing checkpoint (a crash, or a signer taken away)
    assert verify(data_dir)[0] == 0  # 6 behind: within the default limits
    code, out = verify(data_dir, "--max-unanchored-records", "5")
    assert (code, reason(out)) == (1, "stale_checkpoint"), out
    assert "is 6 records behind the head (seq 46); at most 5 allowed" in out


async def test_a_head_recorded_long_after_the_newest_checkpoint_is_stale(data_dir: Path) -> None:
    clock = TickingClock()
    clock.now = clock.now.replace(hour=11)  # an hour after the last checkpoint
    recorder = anchored_recorder(data_dir, clock)
    recorder._checkpoint_every = 1000
    await recorder.open()
    await record(recorder, RECORDS + 1, RECORDS + 1)
    await recorder._store.close()
    code, out = verify(data_dir, "--max-unanchored-seconds", "60")
    assert (code, reason(out)) == (1, "stale_checkpoint"), out
    assert "s older than the head (seq 41" in out


async def test_the_anchor_file_is_append_only_0600_in_a_0700_folder(data_dir: Path) -> None:
    path = data_dir / "anchors" / "checkpoints.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [10, 20, 30, 40]


async def test_the_service_refuses_to_extend_a_log_shorter_than_its_anchor_file(data_dir: Path) -> None:
    keep_records(data_dir, 25)
    keep_checkpoints(data_dir, 2)
    recorder = anchored_recorder(data_dir)
    with pytest.raises(AuditLogCorrupt, match=r"anchor file .* seq 40 but the log ends at seq 25"):
        await recorder.open()
