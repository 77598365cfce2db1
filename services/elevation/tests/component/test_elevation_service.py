"""The elevation service on a real embedded NATS: the executor's standing identity asks over the
broker, gets a grant only for a ticketed action, the grant's NATS user is disconnected by the
server at expiry, and every outcome is on sre.elevation.changed.v1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_bus.elevation import ElevationRefused, NatsElevatedDrain, NatsElevationClient
from warden_contracts.envelope import envelope_for
from warden_elevation.app import Settings, create_app
from warden_security.action_signing import LocalSigner
from warden_security.keys import public_pem
from warden_security.signatures import load_verifying_key
from warden_security.ticket_signing import sign_ticket
from warden_security.tokens import ELEVATION_ISSUER, SANDBOX_AUDIENCE, TokenVerifier
from warden_testkit.bus import EmbeddedBroker, eventually

CHANGED = "sre.elevation.changed.v1"


@pytest.fixture
async def service(broker: EmbeddedBroker, tmp_path: Path):
    policy = Ed25519PrivateKey.generate()
    (tmp_path / "policy.pub.pem").write_bytes(public_pem(policy.public_key()))
    assert broker.server.auth
    runtime = create_app(
        Settings(
            nats_url=broker.url,
            nats_creds=broker.creds("elevation"),
            data_dir=tmp_path / "elevation",
            policy_pubkey=tmp_path / "policy.pub.pem",
            elevation_key=tmp_path / "elevation.pem",
            nats_account_dir=broker.server.auth.root,
            min_ttl_s=1,
            max_ttl_s=2,
            ticket_wait_s=0.5,
        )
    )
    await runtime.start()
    policy_bus = broker.bus("policy")
    await policy_bus.start()
    try:
        yield runtime, policy, policy_bus
    finally:
        await policy_bus.stop()
        await runtime.stop()


async def publish_ticket(bus, key: Ed25519PrivateKey, action_id: str, target: str) -> None:
    ticket = sign_ticket(
        LocalSigner(key),
        action_id=action_id,
        incident_id="inc-42",
        target=target,
        principal="executor",
        not_after=datetime.now(UTC) + timedelta(minutes=5),
    )
    await bus.publish(envelope_for("sre.elevation.ticketed.v1", ticket, source="warden/policy", correlationid="inc-42"))


async def test_a_ticketed_grant_is_scoped_audited_released_and_expires(broker, service, tmp_path: Path) -> None:
    _, policy, policy_bus = service
    client = NatsElevationClient(broker.url, str(broker.creds("executor")), "executor")

    with pytest.raises(ElevationRefused, match="no elevation ticket for action act-none"):
        await client.elevate("action act-none (doorbell)", 2, action_id="act-none")

    await publish_ticket(policy_bus, policy, "act-1", "checkout-api")
    with pytest.raises(ElevationRefused, match="covers checkout-api, not payments-api"):
        await client.elevate("action act-1", 2, action_id="act-1", target="payments-api")
    grant = await client.elevate("incident inc-42 action act-1 (doorbell)", 60, action_id="act-1")
    assert grant.expires_at - time.time() <= 2.5  # capped at max_ttl_s
    claims = TokenVerifier(
        load_verifying_key(tmp_path / "elevation.pub.pem"), ELEVATION_ISSUER, SANDBOX_AUDIENCE
    ).verify(grant.extras["sandbox_token"])
    assert claims["targets"] == ["checkout-api"] and claims["action_id"] == "act-1"

    # The grant's NATS user works, and the server itself ends it at expiry.
    drain = NatsElevatedDrain(broker.url, grant)
    nc = await drain._connect()
    assert nc.is_connected
    await eventually(lambda: not nc.is_connected, 10, what="the server to disconnect the expired user")
    await nc.close()

    with pytest.raises(ElevationRefused, match="secret"):
        await client.release(grant.grant_id, "not-the-secret")
    second = await client.elevate("retry", 2, action_id="act-1")
    await client.release(second.grant_id, second.release_secret)

    changes = await broker.wait_for(CHANGED, lambda e: True, count=7)
    states = [(e.data["state"], e.data.get("action_id")) for e in changes]
    assert ("refused", "act-none") in states and ("activated", "act-1") in states
    assert sum(1 for s, _ in states if s == "refused") == 3  # no ticket, wrong target, wrong secret
    ended = {e.data["justification"] for e in changes if e.data["state"] == "deactivated"}
    assert ended == {"expired", "released: retry"}
    assert all(e.correlationid == "inc-42" for e in changes if e.data.get("action_id") == "act-1")


async def test_only_the_eligible_identity_may_ask_and_only_on_its_own_subject(broker, service) -> None:
    errors: list[str] = []
    planner = await broker.connect("planner", errors)
    try:
        with pytest.raises(nats.errors.NoRespondersError):
            await planner.request("warden.elevation.request.planner", b"{}", timeout=1)
    except nats.errors.TimeoutError:
        pass
    finally:
        await planner.close()
    executor = await broker.connect("executor", errors)
    try:
        # The executor cannot ask as anyone else: the broker refuses the subject.
        await executor.publish("warden.elevation.request.audit", b"{}")
        await executor.flush()
        await eventually(lambda: any("permissions violation" in e.lower() for e in errors), 5, what="a refusal")
    finally:
        await executor.close()
