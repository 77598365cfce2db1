"""With WARDEN_KEYVAULT_URL set, audit signs checkpoints with its Key Vault key (ES256), through
the real `azure-keyvault-keys` SDK against the HTTPS double of the vault; `warden audit verify`
checks them with the exported public key, as it checks Ed25519 key-file checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_audit.adapters.ed25519_signer import Ed25519Signer, trusted_key_files
from warden_audit.app import Settings, checkpoint_signer
from warden_audit.segments import CHECKPOINTS_FILE
from warden_audit.verify import load_checkpoints, verify_log
from warden_cli.main import app
from warden_security.keys import public_path
from warden_security.keyvault_signer import KeyVaultSigner
from warden_testkit.audit import write_log
from warden_testkit.keyvault import VaultDouble, serve_vault

KEY = "audit-checkpoint-signing"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultDouble]:
    with serve_vault(tmp_path / "vault") as double:
        double.add_key(KEY)
        yield double


@pytest.fixture
async def signed_log(tmp_path: Path, vault: VaultDouble) -> tuple[Path, Path]:
    """10 records, checkpoints at 3, 6, 9 and 10, signed in the vault; and the exported public key."""
    settings = Settings(nats_creds=tmp_path / "c", data_dir=tmp_path, keyvault_url=vault.url)
    signer = checkpoint_signer(settings, vault.credential, vault.client_options())
    assert isinstance(signer, KeyVaultSigner)
    await write_log(tmp_path / "audit", 10, signer=signer)
    pem = tmp_path / "audit-checkpoint.pub.pem"
    pem.write_bytes(signer.public_pem())
    return tmp_path / "audit", pem


def test_vault_signed_checkpoints_verify_with_the_public_key(signed_log: tuple[Path, Path], vault) -> None:
    audit_dir, pem = signed_log
    checkpoints = load_checkpoints(audit_dir)
    assert [c.seq for c in checkpoints] == [3, 6, 9, 10]
    assert {c.algorithm for c in checkpoints} == {"ES256"} and checkpoints[0].key_id.startswith("es256-")
    assert len(vault.sign_requests) == 4

    report = verify_log(audit_dir, trusted_key_files([pem]))
    assert report.ok and report.signatures_checked and report.checkpoints == 4, report

    result = CliRunner().invoke(app, ["audit", "verify", "--audit-dir", str(audit_dir), "--public-key", str(pem)])
    assert result.exit_code == 0, result.output
    assert "4 checkpoints (last at seq 10, signatures verified)" in result.output


def test_a_forged_or_foreign_checkpoint_signature_fails(signed_log: tuple[Path, Path], tmp_path: Path) -> None:
    audit_dir, pem = signed_log
    Ed25519Signer.from_file(tmp_path / "other" / "audit-signing.pem")  # creates a key pair
    foreign = verify_log(audit_dir, trusted_key_files([public_path(tmp_path / "other" / "audit-signing.pem")]))
    assert not foreign.ok and foreign.first_bad_seq == 3, foreign

    path = audit_dir / CHECKPOINTS_FILE
    lines = path.read_text().splitlines()
    forged = json.loads(lines[1])
    forged["merkle_root"] = "00" * 32  # a different statement under the vault's signature
    lines[1] = json.dumps(forged)
    path.chmod(0o644)
    path.write_text("\n".join(lines) + "\n")
    report = verify_log(audit_dir, trusted_key_files([pem]))
    assert not report.ok and report.first_bad_seq == 6, report
    assert "not signed by a trusted key" in report.problem


def test_without_a_vault_the_key_file_signs(tmp_path: Path) -> None:
    signer = checkpoint_signer(Settings(nats_creds=tmp_path / "c", data_dir=tmp_path))
    assert isinstance(signer, Ed25519Signer)
    assert (tmp_path / "keys" / "audit-signing.pem").exists()
