"""Admission of actions the policy signed with its Key Vault key (ES256), through the real
`azure-keyvault-keys` SDK against the HTTPS double of the vault: the executor is configured with
the vault URL alone and trusts the key's public part, beside or instead of an Ed25519 key file."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.events import SignedAction
from warden_executor.app import Settings, policy_keys
from warden_executor.domain.admission import signature_problems
from warden_security.action_signing import LocalSigner, Signer, approval_proof, sign_action
from warden_security.keys import public_pem
from warden_security.keyvault_signer import KeyVaultSigner
from warden_security.signatures import UnsupportedKeyError, ec_key_id
from warden_testkit.keyvault import VaultDouble, serve_vault

NOW = datetime.now(UTC)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultDouble]:
    with serve_vault(tmp_path) as double:
        double.add_key("policy-action-signing")
        yield double


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, vault: VaultDouble, tmp_path: Path) -> Settings:
    monkeypatch.setenv("WARDEN_KEYVAULT_URL", vault.url)
    monkeypatch.setenv("WARDEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WARDEN_NATS_CREDS", str(tmp_path / "executor.creds"))
    monkeypatch.delenv("WARDEN_POLICY_PUBKEY", raising=False)
    return Settings()


def signed(signer: Signer, target: str = "checkout") -> SignedAction:
    return sign_action(
        signer,
        action_id="act-1",
        incident_id="inc-1",
        kind="restart_service",
        target=target,
        params={},
        tier=1,
        environment="dev",
        approvals=[approval_proof("alice", "token-of-alice")],
        not_after=NOW + timedelta(minutes=5),
    )


def policy_signer(vault: VaultDouble) -> KeyVaultSigner:
    # What the policy service builds from WARDEN_KEYVAULT_URL (warden_policy.app.action_signer).
    return KeyVaultSigner(vault.url, "policy-action-signing", vault.credential, **vault.client_options())


def test_an_action_signed_in_the_vault_is_admitted_with_the_vaults_public_key(
    vault: VaultDouble, azure_env: Settings
) -> None:
    trusted = policy_keys(azure_env, vault.credential, vault.client_options())
    action = signed(policy_signer(vault))

    assert list(trusted) == [ec_key_id(vault.keys["policy-action-signing"].public_key())]
    assert action.key_id.startswith("es256-")
    assert signature_problems(action, trusted, NOW) == []
    # The executor only read the key: it never asked the vault to sign anything.
    assert len(vault.sign_requests) == 1


def test_a_tampered_or_foreign_vault_signature_is_refused(vault: VaultDouble, azure_env: Settings) -> None:
    trusted = policy_keys(azure_env, vault.credential, vault.client_options())
    action = signed(policy_signer(vault))

    tampered = action.model_copy(update={"target": "payments"})
    assert signature_problems(tampered, trusted, NOW) == ["signature does not verify"]
    garbled = action.model_copy(update={"signature": base64.b64encode(b"\x00" * 64).decode()})
    assert signature_problems(garbled, trusted, NOW) == ["signature does not verify"]
    vault.add_key("someone-else")
    foreign = signed(KeyVaultSigner(vault.url, "someone-else", vault.credential, **vault.client_options()))
    assert signature_problems(foreign, trusted, NOW) == [f"unknown signing key {foreign.key_id!r}"]


def test_key_file_and_vault_key_are_trusted_together_during_a_migration(
    vault: VaultDouble, azure_env: Settings, tmp_path: Path
) -> None:
    local = Ed25519PrivateKey.generate()
    pem = tmp_path / "policy.pub.pem"
    pem.write_bytes(public_pem(local.public_key()))
    settings = azure_env.model_copy(update={"policy_pubkey": pem})
    trusted = policy_keys(settings, vault.credential, vault.client_options())

    assert signature_problems(signed(LocalSigner(local)), trusted, NOW) == []
    assert signature_problems(signed(policy_signer(vault)), trusted, NOW) == []


def test_an_es256_public_key_file_is_trusted_too(vault: VaultDouble, tmp_path: Path) -> None:
    signer = policy_signer(vault)
    pem = tmp_path / "policy-action.pub.pem"
    pem.write_bytes(signer.public_pem())  # what `az keyvault key download -e PEM` writes
    trusted = policy_keys(Settings(data_dir=tmp_path, nats_creds=tmp_path / "x.creds", policy_pubkey=pem))

    assert signature_problems(signed(signer), trusted, NOW) == []


def test_unknown_key_types_are_refused(tmp_path: Path) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = tmp_path / "p384.pub.pem"
    pem.write_bytes(p384.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(UnsupportedKeyError, match="neither an Ed25519 nor an EC P-256"):
        policy_keys(Settings(data_dir=tmp_path, nats_creds=tmp_path / "x.creds", policy_pubkey=pem))

    # A key of another type slipped into the trusted map refuses the action instead of skipping the check.
    local = Ed25519PrivateKey.generate()
    action = signed(LocalSigner(local))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    problems = signature_problems(action, {action.key_id: rsa_key}, NOW)  # type: ignore[dict-item]
    assert len(problems) == 1 and "refused" in problems[0]


def test_without_a_key_file_or_a_vault_the_executor_does_not_start(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WARDEN_POLICY_PUBKEY", raising=False)
    monkeypatch.delenv("WARDEN_KEYVAULT_URL", raising=False)
    with pytest.raises(ValueError, match="WARDEN_POLICY_PUBKEY or WARDEN_KEYVAULT_URL"):
        policy_keys(Settings(data_dir=tmp_path, nats_creds=tmp_path / "x.creds"))
