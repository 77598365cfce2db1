"""`PublishAcks`, under `NatsBus.publish_many`: the same message on the wire as a single publish,
the broker's refusal reported at once, and a bound on what waits for acknowledgement."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.errors import APIError, NoStreamResponseError
from warden_bus.nats_publish_acks import PublishAcks
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.contracts import alert as sample_alert

ALERT = "sre.alert.received.v1"


def alert(n: int) -> Envelope:
    return sample_alert(n, id_prefix="acks")


async def test_publish_many_stores_what_publish_stores(broker: EmbeddedBroker) -> None:
    bus = broker.bus("ingest")
    await bus.start()
    admin = await broker.connect("admin")
    try:
        js, stream = admin.jetstream(), topo.topic(ALERT).stream
        single, grouped = alert(1), alert(2)
        await bus.publish(single)
        await bus.publish_many([grouped, alert(3)])
        one = await js.get_msg(stream, seq=(await js.stream_info(stream)).state.last_seq - 2)
        two = await js.get_msg(stream, seq=(await js.stream_info(stream)).state.last_seq - 1)
        assert (one.data, two.data) == (single.to_bytes(), grouped.to_bytes())
        assert one.headers is not None and two.headers is not None
        # A group goes as an atomic batch, whose headers the server stores beside the message's own.
        assert list(one.headers) == [h for h in two.headers if not h.startswith("Nats-Batch-")]
        assert two.headers["Nats-Msg-Id"] == "acks-2" and two.headers["Nats-Expected-Stream"] == stream
        # The body is the whole CloudEvent: no copy of its attributes rides along to be parsed.
        assert set(one.headers) == {"Nats-Msg-Id", "Nats-Expected-Stream"}
    finally:
        await admin.close()
        await bus.stop()


async def test_a_refused_publish_fails_its_future_at_once(broker: EmbeddedBroker) -> None:
    admin = await broker.connect("admin")
    try:
        acks = PublishAcks(admin)
        await acks.start()
        _, wrong_stream = await acks.publish(ALERT, b"{}", "NOT_THE_STREAM", {"Nats-Msg-Id": "x-1"})
        _, nowhere = await acks.publish("no.stream.here", b"{}", "NONE", {"Nats-Msg-Id": "x-2"})
        with pytest.raises(APIError):
            await asyncio.wait_for(wrong_stream, 5)
        with pytest.raises(NoStreamResponseError):
            await asyncio.wait_for(nowhere, 5)
    finally:
        await admin.close()


async def test_at_most_max_pending_wait_for_acknowledgement(broker: EmbeddedBroker) -> None:
    admin = await broker.connect("admin")
    try:
        acks = PublishAcks(admin, max_pending=2)
        await acks.start()
        stream = topo.topic(ALERT).stream
        futures = []
        for n in range(6):
            _, future = await acks.publish(ALERT, alert(100 + n).to_bytes(), stream, {"Nats-Msg-Id": f"p-{n}"})
            futures.append(future)
            assert len(acks._pending) <= 2
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert not acks._pending
    finally:
        await admin.close()
