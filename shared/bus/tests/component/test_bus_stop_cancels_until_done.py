"""A bus's consumer loop that drops a cancellation (nats-py's `next_msg` on a closed connection,
Python 3.11's `asyncio.wait_for` race) must still end when the bus stops, not leave `stop`
waiting forever."""

from __future__ import annotations

import asyncio

from warden_bus.nats_bus import cancel_until_done


async def test_a_task_that_drops_one_cancellation_is_cancelled_again() -> None:
    dropped = asyncio.Event()

    async def loop_that_drops_a_cancel() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            dropped.set()  # swallowed, as wait_for does when its future completes at the same time
        await asyncio.sleep(30)  # the next fetch

    task = asyncio.create_task(loop_that_drops_a_cancel())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait_for(cancel_until_done(task), timeout=5)
    assert dropped.is_set() and task.cancelled()


async def test_a_task_that_already_failed_is_reaped_without_raising() -> None:
    async def fails() -> None:
        raise RuntimeError("server went away")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_until_done(task)
    assert task.done() and isinstance(task.exception(), RuntimeError)
