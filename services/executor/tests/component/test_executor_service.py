"""The executor on a real embedded NATS server with a local elevation authority.

Only the target is in memory (the TargetProvider port); the bus, the elevation JWTs, the broker
permissions, the signatures and the SQLite ledger are all real.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_bus.elevation import ElevationGrant, ElevationRequest, ReleaseRequest, mint_elevated_user, serve_authority
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ActionPending, ControlChanged, ControlKind
from warden_executor.app import ExecutorPorts, Settings, create_app
from warden_security.keys import public_pem
from warden_security.tokens import ELEVATION_ISSUER, SANDBOX_AUDIENCE, TokenIssuer, TokenVerifier

REPORTED = "sre.action.reported.v1"
APPROVED = "sre.action.approved.v1"


class Authority:
    """The embedded elevation authority, as the launcher runs it: NATS JWT + sandbox token."""

    def __init__(self, broker) -> None:
        self.broker = broker
        self.key = Ed25519PrivateKey.generate()
        self.grants: list[ElevationGrant] = []
        self.requests: list[ElevationRequest] = []
        self.released: list[str] = []

    async def grant(self, requester: str, request: ElevationRequest) -> ElevationGrant:
        assert requester == request.principal  # the subject the broker let the executor publish on
        self.requests.append(request)
        jwt, seed, expires_at = mint_elevated_user(self.broker.server.auth, request.principal, request.ttl_s)
        token = TokenIssuer(self.key, ELEVATION_ISSUER).issue(
            request.principal, SANDBOX_AUDIENCE, request.ttl_s, targets=["checkout"]
        )
        granted = ElevationGrant(
            grant_id=str(uuid4()),
            principal=request.principal,
            expires_at=expires_at,
            nats_jwt=jwt,
            nats_seed=seed,
            extras={"sandbox_token": token},
        )
        self.grants.append(granted)
        return granted

    async def release(self, requester: str, body: ReleaseRequest) -> None:
        self.released.append(body.grant_id)


@pytest.fixture
async def world(broker, tmp_path, policy, kit):
    authority = Authority(broker)
    authority_conn = await serve_authority(
        broker.url, str(broker.creds("elevation")), authority.grant, authority.release
    )
    pubkey = tmp_path / "policy.pub.pem"
    pubkey.write_bytes(public_pem(policy.key.public_key()))
    settings = Settings(
        nats_url=broker.url,
        nats_creds=broker.creds("executor"),
        data_dir=tmp_path / "executor",
        sandbox_url="http://127.0.0.1:9",
        policy_pubkey=pubkey,
        elevation_ttl_s=60,
    )
    target = kit.InMemoryTarget(services={"checkout": kit.healthy_view("checkout", memory_pct=92.0)})
    runtime = create_app(settings, ExecutorPorts(target_provider=target))
    policy_bus, operator_bus = broker.bus("policy"), broker.bus("operator")
    await runtime.start()
    await policy_bus.start()
    await operator_bus.start()
    try:
        yield authority, target, runtime, policy_bus, operator_bus
    finally:
        await operator_bus.stop()
        await policy_bus.stop()
        await runtime.stop()
        await authority_conn.close()


def live_action(policy, **kw):
    return policy.action(not_after=datetime.now(UTC) + timedelta(minutes=10), **kw)


def doorbell(action_id: str, incident_id: str = "inc-1"):
    return envelope_for(
        "sre.action.pending.v1", ActionPending(action_id=action_id), source="warden/policy", correlationid=incident_id
    )


def about(action_id: str, status: str):
    return lambda e: e.data["action_id"] == action_id and e.data["status"] == status


async def test_doorbell_elevates_acts_verifies_and_refuses_forged_expired_and_replayed(world, broker, policy, kit):
    authority, target, runtime, policy_bus, _ = world
    action = live_action(policy)
    first = kit.approved(action)
    await policy_bus.publish(first)
    await policy_bus.publish(doorbell(action.action_id))

    [verified] = await broker.wait_for(REPORTED, about(action.action_id, "verified"))
    [started] = await broker.wait_for(REPORTED, about(action.action_id, "started"))
    [grant] = authority.grants
    assert started.data["evidence"]["grant_id"] == grant.grant_id
    assert started.data["evidence"]["grant_expires_at"] == datetime.fromtimestamp(grant.expires_at, UTC).isoformat()
    assert verified.data["evidence"]["metrics"] == {"memory_pct": 35.0, "healthy": 1}
    assert verified.correlationid == "inc-1" and verified.causationid == first.id
    assert authority.requests[0].justification == f"incident inc-1 action {action.action_id} (doorbell)"
    assert authority.requests[0].ttl_s == 60
    assert authority.requests[0].action_id == action.action_id  # the grant is asked for this action
    [(kind, name, _, token)] = target.calls
    assert (kind, name) == ("restart_service", "checkout")
    claims = TokenVerifier(authority.key.public_key(), ELEVATION_ISSUER, SANDBOX_AUDIENCE).verify(token)
    assert claims["targets"] == ["checkout"]
    deadline = asyncio.get_running_loop().time() + 10
    while authority.released != [grant.grant_id] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert authority.released == [grant.grant_id]

    forged = kit.PolicySigner().action(not_after=datetime.now(UTC) + timedelta(minutes=10))
    expired = policy.action(not_after=datetime.now(UTC) - timedelta(seconds=1))
    replay = kit.approved(action)
    for envelope in (kit.approved(forged), kit.approved(expired), replay):
        await policy_bus.publish(envelope)
    await policy_bus.publish(doorbell(forged.action_id))

    rejected = await broker.wait_for(REPORTED, lambda e: e.data["status"] == "rejected", count=3)
    details = {e.data["action_id"]: e.data["detail"] for e in rejected}
    assert details[forged.action_id] == f"unknown signing key {forged.key_id!r}"
    assert details[expired.action_id].startswith("expired at ")
    assert details[action.action_id] == "replayed: already done"
    assert len(target.calls) == 1
    replayed = next(e for e in rejected if e.data["action_id"] == action.action_id)
    assert replayed.causationid == replay.id
    assert (count(runtime, "actions_rejected"), count(runtime, "actions_verified")) == (3, 1)


async def test_kill_switch_stops_elevation_until_released(world, broker, policy, kit):
    authority, target, runtime, policy_bus, operator_bus = world

    def control(value: str):
        return envelope_for(
            "sre.control.changed.v1",
            ControlChanged(kind=ControlKind.KILL_SWITCH, value=value, changed_by="operator:alice", reason="drill"),
            source="warden/operator",
            correlationid="ops-1",
        )

    async def ring_until(condition, action_id: str) -> None:
        # Control and doorbell arrive on separate consumers: ring until the control has landed.
        deadline = asyncio.get_running_loop().time() + 20
        while not condition() and asyncio.get_running_loop().time() < deadline:
            rung = count(runtime, "doorbells")
            await policy_bus.publish(doorbell(action_id))
            while count(runtime, "doorbells") == rung and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        assert condition()

    await operator_bus.publish(control("on"))
    await ring_until(lambda: count(runtime, "doorbells_not_elevated") >= 1, "probe")
    elevations, refused = len(authority.grants), count(runtime, "doorbells_not_elevated")

    action = live_action(policy)
    await policy_bus.publish(kit.approved(action))
    await ring_until(lambda: count(runtime, "doorbells_not_elevated") > refused, action.action_id)
    assert len(authority.grants) == elevations and target.calls == []

    await operator_bus.publish(control("off"))
    await ring_until(lambda: len(target.calls) == 1, action.action_id)
    assert await broker.wait_for(REPORTED, about(action.action_id, "verified"))


def count(runtime, name: str) -> int:
    return runtime.counters.values.get(name, 0)


async def test_standing_identity_cannot_read_approved_actions(broker, policy, kit):
    await broker.publish_raw(APPROVED, kit.approved(live_action(policy)).to_bytes(), identity="policy")
    errors: list[str] = []
    nc = await broker.connect("executor", errors)
    try:
        js = nc.jetstream()
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            sub = await js.pull_subscribe_bind(
                durable="executor", stream="SRE_ACTION_APPROVED_V1", inbox_prefix=b"_INBOX_executor."
            )
            await sub.fetch(1, timeout=2)
        deadline = asyncio.get_running_loop().time() + 5
        while not errors and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    assert any("permissions violation" in e.lower() for e in errors), errors


async def test_drain_once_elevates_drains_everything_releases_and_returns(broker, tmp_path, policy, kit):
    """Job-style hosting: no doorbell needed, exits (returns) once the approved queue is empty."""
    from warden_executor.app import drain_once

    authority = Authority(broker)
    authority_conn = await serve_authority(
        broker.url, str(broker.creds("elevation")), authority.grant, authority.release
    )
    pubkey = tmp_path / "policy.pub.pem"
    pubkey.write_bytes(public_pem(policy.key.public_key()))
    settings = Settings(
        nats_url=broker.url,
        nats_creds=broker.creds("executor"),
        data_dir=tmp_path / "executor",
        sandbox_url="http://127.0.0.1:9",
        policy_pubkey=pubkey,
        elevation_ttl_s=60,
    )
    target = kit.InMemoryTarget(
        services={
            "checkout": kit.healthy_view("checkout", memory_pct=92.0),
            "orders": kit.healthy_view("orders", replicas=2),
        }
    )
    actions = [live_action(policy), live_action(policy, kind="scale_service", target="orders", params={"replicas": 3})]
    policy_bus = broker.bus("policy")
    await policy_bus.start()
    try:
        for action in actions:
            await policy_bus.publish(kit.approved(action))

        result = await drain_once(settings, ExecutorPorts(target_provider=target))
    finally:
        await policy_bus.stop()
        await authority_conn.close()

    assert result.elevated and result.retry is None and result.handled == 2
    assert sorted(c[0] for c in target.calls) == ["restart_service", "scale_service"]
    assert [r.justification for r in authority.requests] == ["drain-once run"]
    assert authority.released == [authority.grants[0].grant_id]
    for action in actions:
        assert await broker.wait_for(REPORTED, about(action.action_id, "verified"))
