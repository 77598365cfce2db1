"""Just-in-time elevation against the real server: the grant reads approved actions, the server
cuts it off at expiry, and without a grant the executor has no way in."""

from __future__ import annotations

import asyncio
import base64
import time

import nats
import nkeys
import pytest
from warden_bus.elevation import ElevationGrant, NatsElevatedDrain, mint_elevated_user
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending
from warden_testkit.bus import EmbeddedBroker

APPROVED = "sre.action.approved.v1"


def _grant(broker: EmbeddedBroker, ttl: int) -> ElevationGrant:
    assert broker.server.auth
    token, seed, expires = mint_elevated_user(broker.server.auth, "executor", ttl)
    return ElevationGrant(grant_id="g1", principal="executor", expires_at=expires, nats_jwt=token, nats_seed=seed)


async def test_elevated_grant_drains_the_approved_stream(broker: EmbeddedBroker) -> None:
    # Policy is the only producer; the payload here fails the SignedAction schema, so the drain
    # must dead-letter it (proving the elevated identity may publish its dead letters) and go on.
    bad = envelope_for(APPROVED, ActionPending(action_id="x"), source="warden/policy", correlationid="inc-1")
    await broker.publish_raw(APPROVED, bad.to_bytes(), identity="policy")
    seen: list[Envelope] = []

    async def handle(env: Envelope) -> None:
        seen.append(env)

    grant = _grant(broker, 30)
    drain = NatsElevatedDrain(broker.url, grant)
    assert grant.nats_seed not in repr(drain) and grant.nats_jwt not in repr(drain)  # secrets stay out of logs
    assert ElevationGrant.model_validate(grant.model_dump()) == grant  # still on the wire in full
    handled = await drain.drain(APPROVED, handle)
    assert handled == 1 and seen == []
    letters = await broker.wait_for("sre.deadletter.v1", count=1)
    assert letters[0].data["service"] == "executor"
    assert "schema violation" in letters[0].data["reason"]


async def test_server_disconnects_the_elevated_identity_at_expiry(broker: EmbeddedBroker) -> None:
    grant = _grant(broker, 2)
    keypair = nkeys.from_seed(grant.nats_seed.encode())
    closed = asyncio.Event()
    errors: list[str] = []

    async def on_closed() -> None:
        closed.set()

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    nc = await nats.connect(
        broker.url,
        user_jwt_cb=lambda: grant.nats_jwt.encode(),
        signature_cb=lambda nonce: base64.b64encode(keypair.sign(nonce.encode())),
        allow_reconnect=False,
        closed_cb=on_closed,
        error_cb=on_error,
    )
    assert nc.is_connected
    await asyncio.wait_for(closed.wait(), timeout=10)
    assert not nc.is_connected
    refused: list[str] = []

    async def on_refusal(err: Exception) -> None:
        refused.append(str(err))

    # exp has one-second resolution: step past it before proving a fresh connect is refused.
    await asyncio.sleep(max(0.0, grant.expires_at + 1 - time.time()))
    with pytest.raises((nats.errors.Error, nats.errors.NoServersError)) as refusal:
        await nats.connect(
            broker.url,
            user_jwt_cb=lambda: grant.nats_jwt.encode(),
            signature_cb=lambda nonce: base64.b64encode(keypair.sign(nonce.encode())),
            allow_reconnect=False,
            connect_timeout=2,
            error_cb=on_refusal,
        )
    reasons = " ".join([*refused, str(refusal.value)]).lower()
    assert "expired" in reasons or "authorization violation" in reasons, reasons
