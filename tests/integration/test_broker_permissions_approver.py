"""The approver UIs' broker identity (`approver`: the console, Teams, Slack and the CLI's decisions)
may publish only `sre.approval.decided.v1` (plus its own dead-letter subject, so a malformed request
is set aside and audited) and read only approval requests through its own durable; asserted against
the real server, each refusal observed through the error callback."""

from __future__ import annotations

import asyncio

import nats
import pytest
from warden_bus.permissions import consume_subjects, inbox_prefix, standing_permissions
from warden_contracts import topology as topo
from warden_testkit.bus import EmbeddedBroker

UI = "approver"
DECIDED = topo.topic("sre.approval.decided.v1")
REQUESTED = topo.topic("sre.approval.requested.v1")


async def _violation_seen(errors: list[str]) -> bool:
    for _ in range(40):
        if any("permissions violation" in e.lower() for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_ui_identity_is_granted_exactly_decisions_and_reading_requests() -> None:
    perms = standing_permissions(UI)
    own_letters = topo.deadletter_subject(UI)
    assert set(perms.pub_allow) == {DECIDED.name, own_letters, *consume_subjects(REQUESTED.stream, UI)}
    assert perms.sub_allow == [f"{inbox_prefix(UI)}.>"]
    assert [t.name for t in topo.produced_by(UI)] == [DECIDED.name, topo.DEADLETTER_TOPIC]
    assert [t.name for t in topo.consumed_by(UI)] == [REQUESTED.name]


async def test_the_ui_identity_publishes_decisions_and_reads_requests(broker: EmbeddedBroker) -> None:
    await broker.publish_raw(REQUESTED.name, b"{}", msg_id="probe-request", identity="policy")
    nc = await broker.connect(UI)
    try:
        js = nc.jetstream()
        ack = await js.publish(DECIDED.name, b"{}", timeout=5)
        assert ack.stream == DECIDED.stream
        sub = await js.pull_subscribe_bind(
            durable=UI, stream=REQUESTED.stream, inbox_prefix=f"{inbox_prefix(UI)}.".encode()
        )
        msgs = await sub.fetch(1, timeout=5)
        assert msgs and msgs[0].data == b"{}"
        await msgs[0].ack()
    finally:
        await nc.close()


async def test_the_ui_identity_cannot_publish_any_other_topic(broker: EmbeddedBroker) -> None:
    others = [t.name for t in topo.TOPICS if t.name not in {DECIDED.name, topo.DEADLETTER_TOPIC}]
    for subject in [*others, topo.deadletter_subject("policy")]:  # nor another identity's dead letters
        errors: list[str] = []
        nc = await broker.connect(UI, errors)
        try:
            with pytest.raises((TimeoutError, nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError)):
                await nc.jetstream().publish(subject, b"{}", timeout=0.5)
            assert await _violation_seen(errors), (subject, errors)
        finally:
            await nc.close()


async def test_the_ui_identity_cannot_read_other_streams_or_consumers(broker: EmbeddedBroker) -> None:
    probes = [
        (topo.topic("sre.policy.decided.v1").stream, "audit"),
        (topo.topic("sre.action.approved.v1").stream, "executor"),
        (REQUESTED.stream, "audit"),
        (topo.topic("sre.control.changed.v1").stream, "policy"),
    ]
    for stream, durable in probes:
        errors: list[str] = []
        nc = await broker.connect(UI, errors)
        try:
            with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
                sub = await nc.jetstream().pull_subscribe_bind(
                    durable=durable, stream=stream, inbox_prefix=f"{inbox_prefix(UI)}.".encode()
                )
                await sub.fetch(1, timeout=0.5)
            assert await _violation_seen(errors), (stream, durable, errors)
        finally:
            await nc.close()
    errors = []
    nc = await broker.connect(UI, errors)
    try:
        await nc.subscribe(REQUESTED.name)  # a core subscription would bypass the durable
        await nc.flush()
        assert await _violation_seen(errors), errors
    finally:
        await nc.close()
