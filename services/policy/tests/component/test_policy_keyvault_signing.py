"""With WARDEN_KEYVAULT_URL set, policy signs approved actions with its Key Vault key (ES256),
through the real `azure-keyvault-keys` SDK against the HTTPS double of the vault, on real NATS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_contracts.events import SignedAction
from warden_policy.app import Settings, action_signer, create_app
from warden_policy.ports import PolicyPorts
from warden_security.action_signing import LocalSigner, verify_action
from warden_security.keyvault_signer import KeyVaultSigner
from warden_security.signatures import ec_key_id, trust
from warden_testkit.keyvault import VaultDouble, serve_vault

SIGNED = "sre.action.approved.v1"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultDouble]:
    with serve_vault(tmp_path) as double:
        double.add_key("policy-action-signing")
        yield double


async def test_an_autonomous_action_is_signed_in_the_vault(broker, tmp_path, approver_pubkey, make_plan, vault):
    plan = make_plan(incident_class="memory_pressure", environment="dev", kind="restart_service")
    incident = plan.data["incident_id"]
    app = create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("policy"),
        data_dir=tmp_path / "policy",
        approver_issuer_pubkey=approver_pubkey,
        keyvault_url=vault.url,
        deadline_interval_s=0.1,
        ports=PolicyPorts(keyvault_credential=vault.credential, keyvault_options=vault.client_options()),
    )
    await app.start()
    try:
        bus = broker.bus("planner")
        await bus.start()
        try:
            await bus.publish(plan)
        finally:
            await bus.stop()
        found = await broker.wait_for(SIGNED, lambda e: e.data.get("incident_id") == incident, timeout=20)
    finally:
        await app.stop()

    assert found, f"nothing on {SIGNED}"
    action = found[0].payload(SignedAction)
    vault_public = vault.keys["policy-action-signing"].public_key()
    assert action.key_id == ec_key_id(vault_public)
    assert verify_action(action, trust([vault_public]), now=datetime.now(UTC)) == []
    assert vault.sign_requests, "the vault signed the action"
    # No local signing key was created: on Azure the private key exists only in the vault.
    assert not (tmp_path / "policy" / "keys" / "policy-signing.pem").exists()


def test_the_signer_follows_the_settings(tmp_path, approver_pubkey, vault) -> None:
    base = {"data_dir": tmp_path, "nats_creds": tmp_path / "policy.creds", "approver_issuer_pubkey": approver_pubkey}
    assert isinstance(action_signer(Settings(**base)), LocalSigner)
    in_vault = action_signer(
        Settings(**base, keyvault_url=vault.url, policy_signing_key_name="policy-action-signing"),
        vault.credential,
        vault.client_options(),
    )
    assert isinstance(in_vault, KeyVaultSigner)
    assert in_vault.vault_key_id == vault.kid("policy-action-signing")
