"""`NatsBus.publish_many` over JetStream atomic batches: a group stored under one commit, and the
fall-backs to one publish per message when the server will not store a batch whole."""

from __future__ import annotations

from collections import Counter

import pytest
from nats.js.api import StreamConfig
from warden_bus.nats_atomic_batch import MAX_BATCH, BatchMessage, BatchRefused, _check_commit, publish_atomic
from warden_bus.nats_publish_acks import PublishAcks
from warden_bus.provision import stream_config
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.contracts import alert as sample_alert

ALERT = "sre.alert.received.v1"
STREAM = topo.topic(ALERT).stream


def alert(n: int) -> Envelope:
    return sample_alert(n, id_prefix="atomic")


async def _stored(broker: EmbeddedBroker) -> list[tuple[str, str | None]]:
    """(Nats-Msg-Id, Nats-Batch-Id) of every message in the alert stream, in stream order."""
    admin = await broker.connect("admin")
    try:
        js = admin.jetstream()
        last = (await js.stream_info(STREAM)).state.last_seq
        out = []
        for seq in range(1, last + 1):
            msg = await js.get_msg(STREAM, seq=seq)
            headers = msg.headers or {}
            out.append((headers["Nats-Msg-Id"], headers.get("Nats-Batch-Id")))
        return out
    finally:
        await admin.close()


async def test_a_group_is_one_batch_and_a_longer_one_several(broker: EmbeddedBroker) -> None:
    bus = broker.bus("ingest")
    await bus.start()
    try:
        await bus.publish_many([alert(n) for n in range(5)])
        await bus.publish_many([alert(n) for n in range(100, 100 + MAX_BATCH + 7)])
    finally:
        await bus.stop()
    stored = await _stored(broker)
    assert [i for i, _ in stored] == [f"atomic-{n}" for n in [*range(5), *range(100, 100 + MAX_BATCH + 7)]]
    batches = Counter(b for _, b in stored)
    assert None not in batches
    assert sorted(batches.values()) == [5, 7, MAX_BATCH]


async def test_a_repeat_of_stored_ids_is_published_one_by_one_and_stored_once(broker: EmbeddedBroker) -> None:
    bus = broker.bus("ingest")
    await bus.start()
    try:
        await bus.publish_many([alert(n) for n in range(3)])
        # The source re-sent its group with two more alerts: the server refuses that batch whole.
        await bus.publish_many([alert(n) for n in range(5)])
        await bus.publish_many([alert(n) for n in range(5, 8)])  # and batches still go as batches
    finally:
        await bus.stop()
    stored = await _stored(broker)
    assert [i for i, _ in stored] == [f"atomic-{n}" for n in range(8)]
    assert [b is None for _, b in stored] == [False] * 3 + [True] * 2 + [False] * 3


async def test_a_stream_without_atomic_batches_is_remembered(broker: EmbeddedBroker) -> None:
    admin = await broker.connect("admin")
    try:
        config: StreamConfig = stream_config(topo.topic(ALERT))
        config.allow_atomic = False
        await admin.jetstream().update_stream(config)
    finally:
        await admin.close()
    bus = broker.bus("ingest")
    await bus.start()
    try:
        await bus.publish_many([alert(n) for n in range(4)])
        assert bus._no_atomic == {STREAM}
        await bus.publish_many([alert(n) for n in range(4, 6)])
    finally:
        await bus.stop()
    assert await _stored(broker) == [(f"atomic-{n}", None) for n in range(6)]


def test_only_a_whole_batch_acknowledgement_is_taken_for_the_group() -> None:
    """A server without atomic batches stores each message apart and answers the commit as a single
    publish (no `batch`, no `count`): that must not pass for the group. Replies as 2.15 sends them."""
    _check_commit(b'{"stream":"S","seq":100,"batch":"b1","count":100}', "b1", 100)
    with pytest.raises(BatchRefused) as single:
        _check_commit(b'{"stream":"S","seq":100}', "b1", 100)
    assert single.value.disabled  # such a server never batches: the stream is remembered
    for reply in (b'{"stream":"S","seq":100}', b'{"stream":"S","seq":100,"batch":"b2","count":100}', b"[]", b"x"):
        with pytest.raises(BatchRefused):
            _check_commit(reply, "b1", 100)
    refused = b'{"error":{"code":400,"err_code":10174,"description":"atomic publish is disabled"},"stream":"S","seq":0}'
    with pytest.raises(BatchRefused) as info:
        _check_commit(refused, "b1", 2)
    assert info.value.disabled


async def test_an_empty_or_oversized_batch_is_a_caller_error(broker: EmbeddedBroker) -> None:
    admin = await broker.connect("admin")
    try:
        sender = PublishAcks(admin)
        await sender.start()
        with pytest.raises(ValueError):
            await publish_atomic(sender, ALERT, STREAM, [], 5)
        too_many = [BatchMessage(b"{}", {"Nats-Msg-Id": str(n)}) for n in range(MAX_BATCH + 1)]
        with pytest.raises(ValueError):
            await publish_atomic(sender, ALERT, STREAM, too_many, 5)
    finally:
        await admin.close()
