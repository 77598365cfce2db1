"""The pull-batch shortcut (`_prompt_next_msg`) engages with the nats-py this project pins: a
library that renamed its queue internals would silently take the slow path, so this says so."""

from __future__ import annotations

import asyncio

from nats.aio.subscription import Subscription
from warden_bus.nats_batch import _prompt_next_msg
from warden_testkit.bus import EmbeddedBroker


async def test_queued_messages_are_handed_out_in_order_without_the_librarys_wait(broker: EmbeddedBroker) -> None:
    client = await broker.connect("admin")
    try:
        sub: Subscription = await client.subscribe("_INBOX.prompt.test")
        library_next_msg = sub.next_msg
        _prompt_next_msg(sub)
        assert sub.next_msg != library_next_msg, "nats-py's queue internals changed: the shortcut is off"
        for n in range(3):
            await client.publish("_INBOX.prompt.test", b"m%d" % n)
        await client.flush()
        while sub._pending_queue.qsize() < 3:  # delivered to this subscription's queue
            await asyncio.sleep(0.01)
        got = [(await sub.next_msg(timeout=1.0)).data for _ in range(3)]
        assert got == [b"m0", b"m1", b"m2"]
        assert sub._pending_size == 0  # counted off as the library does (its slow-consumer limit)
        late = asyncio.create_task(sub.next_msg(timeout=2.0))  # none queued: the library's own wait
        await asyncio.sleep(0.05)
        await client.publish("_INBOX.prompt.test", b"late")
        assert (await late).data == b"late"
    finally:
        await client.close()
