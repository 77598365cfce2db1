"""The executor's just-in-time drain of `sre.action.approved.v1/executor` on Service Bus: only an
activated role reads it, bad input is dead-lettered and the drain goes on, and it stops at the
role's expiry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus.exceptions import ServiceBusAuthorizationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_bus.azure_servicebus.elevated_drain import ServiceBusElevatedDrain
from warden_contracts.envelope import Envelope, envelope_for
from warden_security.action_signing import LocalSigner, approval_proof, sign_action
from warden_testkit.servicebus import ServiceBusDouble, Stored

APPROVED = "sre.action.approved.v1"


def approved(n: int) -> Envelope:
    action = sign_action(
        LocalSigner(Ed25519PrivateKey.generate()),
        action_id=f"act-{n}",
        incident_id="inc-1",
        kind="restart_service",
        target="checkout-api",
        params={},
        tier=1,
        environment="dev",
        approvals=[approval_proof("alice", "token-of-alice")],
        not_after=datetime.now(UTC) + timedelta(minutes=5),
    )
    return envelope_for(APPROVED, action, source="warden/policy", correlationid="inc-1")


def enqueue(ns: ServiceBusDouble, env: Envelope) -> None:
    ns.enqueue(APPROVED, Stored(0, env.id, env.to_bytes(), {}))


async def test_an_activated_role_drains_and_dead_letters_bad_input() -> None:
    ns = ServiceBusDouble()
    first, second = approved(1), approved(2)
    enqueue(ns, first)
    ns.enqueue(APPROVED, Stored(0, "bad", b'{"not": "an envelope"}', {}))
    enqueue(ns, second)
    seen: list[str] = []

    async def handle(env: Envelope) -> None:
        seen.append(env.data["action_id"])

    drain = ServiceBusElevatedDrain(ns.client("executor", elevated=True), expires_at=time.time() + 60, max_wait_s=0.2)
    assert await drain.in_flight(APPROVED) == 3
    assert await drain.drain(APPROVED, handle) == 3
    assert seen == ["act-1", "act-2"]
    assert await drain.in_flight(APPROVED) == 0
    [letter] = [Envelope.from_bytes(m.body) for m in ns.accepted["sre.deadletter.v1"]]
    assert letter.data["service"] == "executor" and letter.data["reason"].startswith("malformed envelope")
    assert ns.dead_letters[(APPROVED, "executor")].messages[0].message_id == "bad"


async def test_without_activation_the_subscription_is_refused() -> None:
    ns = ServiceBusDouble()
    enqueue(ns, approved(1))
    standing = ServiceBusElevatedDrain(ns.client("executor"), expires_at=time.time() + 60)

    async def handle(env: Envelope) -> None:
        raise AssertionError("must not be reached")

    with pytest.raises(ServiceBusAuthorizationError):
        await standing.drain(APPROVED, handle)
    with pytest.raises(PermissionError):
        await ServiceBusElevatedDrain(ns.client("planner", elevated=True), 0, identity="planner").drain(
            APPROVED, handle
        )


async def test_the_drain_stops_at_the_role_expiry() -> None:
    ns = ServiceBusDouble()
    for n in range(3):
        enqueue(ns, approved(n))

    async def handle(env: Envelope) -> None:
        return None

    expired = ServiceBusElevatedDrain(ns.client("executor", elevated=True), expires_at=time.time() - 1)
    assert await expired.drain(APPROVED, handle) == 0
    assert len(ns.subscriptions[(APPROVED, "executor")].messages) == 3


async def test_the_approved_action_source_is_bounded_by_the_grant() -> None:
    from dataclasses import dataclass

    from warden_bus.azure_servicebus.elevated_drain import ServiceBusApprovedActionSource

    @dataclass
    class Grant:
        expires_at: datetime

    ns = ServiceBusDouble()
    enqueue(ns, approved(1))
    seen: list[str] = []

    async def handle(env: Envelope) -> None:
        seen.append(env.data["action_id"])

    source = ServiceBusApprovedActionSource(ns.client("executor", elevated=True))
    live = Grant(datetime.now(UTC) + timedelta(minutes=5))
    assert await source.in_flight(live) == 1
    assert await source.drain(live, handle, max_messages=10) == 1
    assert seen == ["act-1"] and await source.in_flight(live) == 0
    enqueue(ns, approved(2))
    assert await source.drain(Grant(datetime.now(UTC) - timedelta(seconds=1)), handle, max_messages=10) == 0
