"""`warden audit ...` over a real log: each kind of tampering named at the right record, proofs
round-trip through a file, erasure keeps the log verifiable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_audit import verify_parallel
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.adapters.sqlite_vault import SqliteVault
from warden_audit.segments import segment_path
from warden_cli.main import app
from warden_security.keys import public_path
from warden_testkit.audit import incident_envelope, write_log

# 10 records, 4 per segment (000001 = 1-4, 000002 = 5-8, 000003 = 9-10); checkpoints at 3, 6, 9, 10.
runner = CliRunner()


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    signer = Ed25519Signer.from_file(tmp_path / "keys" / "audit-signing.pem")

    def envelope(n: int) -> dict[str, object]:
        message = incident_envelope(n)
        if n == 5:
            message["type"] = "sre.control.changed.v1"
            message["data"] = {"kind": "freeze", "value": "on", "changed_by": "ops", "reason": "ring me at home"}
        return message

    vault = SqliteVault.for_log(tmp_path / "audit")
    await write_log(tmp_path / "audit", 10, signer=signer, envelope=envelope, vault=vault)
    vault.close()
    assert public_path(tmp_path / "keys" / "audit-signing.pem").exists()
    return tmp_path


def warden(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def lines(data_dir: Path, segment: int) -> list[bytes]:
    return segment_path(data_dir / "audit", segment).read_bytes().splitlines(keepends=True)


def rewrite(data_dir: Path, segment: int, content: list[bytes]) -> None:
    path = segment_path(data_dir / "audit", segment)
    path.chmod(0o644)
    path.write_bytes(b"".join(content))


def test_clean_log(data_dir: Path) -> None:
    code, out = warden("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, out
    assert "audit log OK: 10 records, 4 checkpoints (last at seq 10, signatures verified)" in out


def edit_byte(d: Path) -> None:
    content = lines(d, 2)
    content[1] = content[1].replace(b"alert 6", b"alert 7")
    rewrite(d, 2, content)


def delete_record(d: Path) -> None:
    content = lines(d, 2)
    del content[1]
    rewrite(d, 2, content)


def reorder_two(d: Path) -> None:
    content = lines(d, 2)
    content[1], content[2] = content[2], content[1]
    rewrite(d, 2, content)


def truncate_tail(d: Path) -> None:
    rewrite(d, 3, lines(d, 3)[:1])


def swap_segments(d: Path) -> None:
    first, second = lines(d, 1), lines(d, 2)
    rewrite(d, 1, second)
    rewrite(d, 2, first)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (edit_byte, "INVALID at record 6 (000002.jsonl:2): content does not match its hash"),
        (delete_record, "INVALID at record 6 (000002.jsonl:2): expected seq 6, found 7"),
        (reorder_two, "INVALID at record 6 (000002.jsonl:2): expected seq 6, found 7"),
        (truncate_tail, "INVALID at record 10 (log): the log ends at seq 9 but a signed checkpoint covers seq 10"),
        (swap_segments, "INVALID at record 1 (000001.jsonl:1): expected seq 1, found 5"),
    ],
    ids=["edit-a-byte", "delete-a-record", "reorder-two", "truncate-the-tail", "swap-a-segment"],
)
def test_each_tampering_is_named_at_the_first_bad_record(data_dir: Path, tamper: object, expected: str) -> None:
    assert callable(tamper)
    tamper(data_dir)
    code, out = warden("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1
    assert expected in out


@pytest.mark.parametrize("tamper", [None, edit_byte, delete_record, truncate_tail, swap_segments])
def test_verify_with_worker_processes_says_the_same(
    data_dir: Path, tamper: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    if callable(tamper):
        tamper(data_dir)
    alone = warden("audit", "verify", "--data-dir", str(data_dir), "--json", "--jobs", "1")
    monkeypatch.setattr(verify_parallel, "MIN_PARALLEL_BYTES", 0)  # the pool even for 10 records
    monkeypatch.setattr(verify_parallel, "CHUNK_BYTES", 1)  # one line a chunk
    assert warden("audit", "verify", "--data-dir", str(data_dir), "--json", "--jobs", "2") == alone
    assert warden("audit", "verify", "--data-dir", str(data_dir), "--jobs", "0")[0] == 2  # a usage error


def test_prove_an_incident_and_check_the_bundle(data_dir: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "inc-1.json"
    code, out = warden("audit", "prove", "--incident", "inc-1", "--out", str(bundle), "--data-dir", str(data_dir))
    assert code == 0, out
    assert [r["seq"] for r in json.loads(bundle.read_text())["records"]] == [1, 4, 7, 10]
    code, out = warden("audit", "check-bundle", str(bundle), "--data-dir", str(data_dir))
    assert (code, "bundle OK: 4 records proven against signed checkpoint 10") == (0, out.strip())
    content = json.loads(bundle.read_text())
    content["records"][1]["envelope"]["data"]["title"] = "quietly changed"
    bundle.write_text(json.dumps(content))
    code, out = warden("audit", "check-bundle", str(bundle), "--data-dir", str(data_dir))
    assert code == 1 and "record 4: content does not match its hash" in out


def test_prove_a_range(data_dir: Path) -> None:
    code, out = warden("audit", "prove", "--seq", "3", "--to", "5", "--data-dir", str(data_dir))
    assert code == 0, out
    assert [r["seq"] for r in json.loads(out)["records"]] == [3, 4, 5]


def test_erasure_keeps_the_log_verifiable(data_dir: Path) -> None:
    code, out = warden("audit", "erase", "--principal", "ops", "--data-dir", str(data_dir))
    assert (code, out.strip()) == (0, "erased 1 personal value(s) of ops; the chain is unchanged")
    code, out = warden("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "audit log OK: 10 records" in out
    code, out = warden("audit", "prove", "--seq", "5", "--data-dir", str(data_dir))
    [record] = json.loads(out)["records"]
    assert record["envelope"]["data"]["reason"].startswith("personal:")  # proofs carry the reference


def test_without_a_key_verify_says_signatures_were_not_checked(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("copy") / "audit"
    shutil.copytree(data_dir / "audit", elsewhere)
    code, out = warden("audit", "verify", "--audit-dir", str(elsewhere))
    assert code == 0
    assert "signatures NOT checked (no public key)" in out
