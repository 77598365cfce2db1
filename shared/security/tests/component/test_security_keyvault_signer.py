"""The Key Vault signer through the real `azure-keyvault-keys` SDK against an HTTPS double of the
vault: actions and checkpoints are signed in the vault and verify with the public key alone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from warden_security.action_signing import approval_proof, sign_action, signing_input
from warden_security.keyvault_signer import (
    KeyVaultKeyError,
    KeyVaultSigner,
    ec_key_id,
    trusted_es256_keys,
    verify_es256,
)


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signer(vault: Any, name: str = "policy-signing") -> KeyVaultSigner:
    # The double is not on *.vault.azure.net, so the SDK's documented check that the challenge's
    # resource matches the vault domain is switched off; TLS and the bearer challenge stay on.
    return KeyVaultSigner(
        vault.url, name, vault.credential, connection_verify=str(vault.ca_file), verify_challenge_resource=False
    )


async def test_signs_an_approved_action_in_the_vault_and_it_verifies_with_the_public_key(vault: Any) -> None:
    vault_key = ec.generate_private_key(ec.SECP256R1())
    vault.keys["policy-signing"] = vault_key
    signer = await asyncio.to_thread(_signer, vault)
    assert signer.key_id == ec_key_id(vault_key.public_key())
    assert signer.vault_key_id == vault.kid("policy-signing")

    action = await asyncio.to_thread(
        sign_action,
        signer,
        action_id="act-1",
        incident_id="inc-1",
        kind="restart_service",
        target="checkout-api",
        params={},
        tier=1,
        environment="prod",
        approvals=[approval_proof("alice", "token-of-alice")],
        required_approvals=1,
        not_after=datetime.now(UTC) + timedelta(minutes=5),
    )
    signature = base64.b64decode(action.signature)
    assert verify_es256(vault_key.public_key(), signing_input(action), signature)
    # Only a digest went to the vault, never the key or the message itself.
    [request] = vault.sign_requests
    assert unb64url(request["value"]) == hashlib.sha256(signing_input(action)).digest()
    tampered = action.model_copy(update={"target": "payments-api"})
    assert not verify_es256(vault_key.public_key(), signing_input(tampered), signature)


async def test_checkpoint_signatures_are_checked_by_key_id(vault: Any) -> None:
    vault.keys["audit-checkpoints"] = ec.generate_private_key(ec.SECP256R1())
    signer = await asyncio.to_thread(_signer, vault, "audit-checkpoints")
    checkpoint = b'{"seq": 1000, "root": "ab12"}'
    signature = await asyncio.to_thread(signer.sign, checkpoint)
    check = trusted_es256_keys([signer.public_key])
    assert check(signer.key_id, checkpoint, signature)
    assert not check("es256-unknown", checkpoint, signature)
    assert not check(signer.key_id, checkpoint + b" ", signature)
    assert b"BEGIN PUBLIC KEY" in signer.public_pem()


async def test_a_signature_that_does_not_verify_is_never_returned(vault: Any) -> None:
    vault.keys["policy-signing"] = ec.generate_private_key(ec.SECP256R1())
    signer = await asyncio.to_thread(_signer, vault)
    vault.corrupt_signatures = True
    with pytest.raises(KeyVaultKeyError, match="does not verify"):
        await asyncio.to_thread(signer.sign, b"approved action")


async def test_non_ec_keys_and_refused_signing_fail_clearly(vault: Any) -> None:
    vault.keys["rsa"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(KeyVaultKeyError, match="not an EC P-256 key"):
        await asyncio.to_thread(_signer, vault, "rsa")
    vault.keys["policy-signing"] = ec.generate_private_key(ec.SECP256R1())
    signer = await asyncio.to_thread(_signer, vault)
    vault.forbid_sign = True
    with pytest.raises(HttpResponseError) as err:
        await asyncio.to_thread(signer.sign, b"approved action")
    assert err.value.status_code == 403


async def test_the_token_is_requested_for_the_vault_scope(vault: Any) -> None:
    vault.keys["policy-signing"] = ec.generate_private_key(ec.SECP256R1())
    await asyncio.to_thread(_signer, vault)
    assert vault.credential.scopes and all(s == f"{vault.url}/.default" for s in vault.credential.scopes)


@pytest.mark.skipif(not os.environ.get("WARDEN_TEST_KEYVAULT_URL"), reason="no Key Vault configured")
async def test_live_vault_signs_and_the_public_key_verifies() -> None:
    """Opt-in: WARDEN_TEST_KEYVAULT_URL names a vault with an EC P-256 key `policy-action-signing`
    (deploy/bicep/keyvault.bicep) and the environment's Entra identity may sign with it."""
    from azure.identity import DefaultAzureCredential

    signer = await asyncio.to_thread(
        KeyVaultSigner, os.environ["WARDEN_TEST_KEYVAULT_URL"], "policy-action-signing", DefaultAzureCredential()
    )
    signature = await asyncio.to_thread(signer.sign, b"warden live test")
    assert verify_es256(signer.public_key, b"warden live test", signature)


async def test_one_check_verifies_vault_and_key_file_signatures(vault: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from warden_security.keyvault_signer import verify_signature

    vault.keys["policy-signing"] = ec.generate_private_key(ec.SECP256R1())
    signer = await asyncio.to_thread(_signer, vault)
    local = Ed25519PrivateKey.generate()
    message = b"approved action"
    vault_signature = await asyncio.to_thread(signer.sign, message)
    assert verify_signature(signer.public_key, message, vault_signature)
    assert verify_signature(local.public_key(), message, local.sign(message))
    assert not verify_signature(local.public_key(), message, vault_signature)
    assert not verify_signature(signer.public_key, message, local.sign(message))
