"""Personal free text by reference: erasing it leaves every hash and checkpoint valid."""

from __future__ import annotations

from pathlib import Path

from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.adapters.sqlite_vault import SqliteVault
from warden_audit.domain.personal import ERASED, REF_PREFIX, personal_ref, salted_digest, separate
from warden_audit.domain.recorder import Recorder
from warden_audit.reader import read_records
from warden_audit.verify import verify_log
from warden_testkit.audit import TickingClock, new_signer

TOPIC = "sre.approval.decided.v1"


def decision(n: int, reason: str) -> dict[str, object]:
    return {
        "id": f"d-{n}",
        "source": "warden/cli/alice",
        "type": TOPIC,
        "correlationid": "inc-9",
        "data": {"approval_id": f"ap-{n}", "decision": "approve", "reason": reason, "identity_token": f"tok-{n}"},
    }


async def record_decisions(audit_dir: Path, principal: str) -> None:
    signer = new_signer()
    vault = SqliteVault.for_log(audit_dir)
    recorder = Recorder(LocalSegmentStore(audit_dir), TickingClock(), signer=signer)
    await recorder.open()
    for n, reason in enumerate(["my manager said so", "call me on +44 7700 900123"], 1):
        envelope, erasable = separate(TOPIC, decision(n, reason), vault, principal)
        await recorder.record(envelope, {"erasable": erasable})
    await recorder.close()
    vault.close()


async def test_values_stay_out_of_the_chain_and_come_back_when_read(tmp_path: Path) -> None:
    await record_decisions(tmp_path, "alice")
    log_bytes = b"".join(p.read_bytes() for p in (tmp_path / "segments").iterdir())
    assert b"+44 7700" not in log_bytes and b"tok-1" not in log_bytes
    raw = list(read_records(tmp_path, raw=True))
    assert raw[1]["envelope"]["data"]["reason"] == REF_PREFIX + personal_ref("d-2", "reason")
    assert set(raw[1]["erasable"]) == {"data.reason", "data.identity_token"}
    resolved = list(read_records(tmp_path))
    assert resolved[1]["envelope"]["data"]["reason"] == "call me on +44 7700 900123"
    vault = SqliteVault.for_log(tmp_path)
    value, salt = vault.get(raw[1]["erasable"]["data.reason"]["ref"]) or (None, b"")
    vault.close()
    assert raw[1]["erasable"]["data.reason"]["digest"] == salted_digest(salt, value)


async def test_erasure_keeps_the_chain_and_checkpoints_valid(tmp_path: Path) -> None:
    await record_decisions(tmp_path, "alice")
    before = verify_log(tmp_path)
    vault = SqliteVault.for_log(tmp_path)
    assert vault.erase(principal="alice") == 4  # two reasons and two tokens
    assert vault.erase(principal="alice") == 0
    vault.close()
    after = verify_log(tmp_path)
    assert after.ok and (after.records, after.head_hash, after.checkpoints) == (
        before.records,
        before.head_hash,
        before.checkpoints,
    )
    assert [r["envelope"]["data"]["reason"] for r in read_records(tmp_path)] == [ERASED, ERASED]
    assert b"+44 7700" not in (tmp_path / "personal.sqlite3").read_bytes()


def test_redelivery_reuses_the_reference_and_salt(tmp_path: Path) -> None:
    vault = SqliteVault.for_log(tmp_path)
    first, erasable_1 = separate(TOPIC, decision(1, "why"), vault, "alice")
    again, erasable_2 = separate(TOPIC, decision(1, "why"), vault, "alice")
    vault.close()
    assert first == again and erasable_1 == erasable_2


def test_messages_without_personal_fields_are_untouched(tmp_path: Path) -> None:
    vault = SqliteVault.for_log(tmp_path)
    message = {"id": "x", "type": "sre.plan.proposed.v1", "data": {"summary": "restart", "reason": "kept"}}
    assert separate("sre.plan.proposed.v1", message, vault, None) == (message, {})
    vault.close()
