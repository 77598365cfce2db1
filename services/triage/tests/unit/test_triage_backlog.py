"""The webhook's view of the consumer backlog: bounded, and never stuck on a stale count."""

from __future__ import annotations

import asyncio

from warden_triage.adapters.backlog import Backlog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backlog_fills_drains_and_forgets_what_will_never_arrive() -> None:
    clock = Clock()
    backlog = Backlog(limit=3, idle_reset_s=5, clock=clock)
    backlog.accepted(2)
    assert (backlog.depth, backlog.full) == (2, False)
    backlog.accepted(1)
    assert backlog.full
    clock.now += 4
    backlog.handled()
    assert (backlog.depth, backlog.full) == (2, False)
    clock.now += 4.9
    assert backlog.depth == 2  # the consumer is slow, not gone
    clock.now += 0.2  # no progress for longer than idle_reset_s: e.g. broker-deduplicated repeats
    assert backlog.depth == 0
    backlog.handled()  # an alert another producer published directly: never negative
    assert backlog.depth == 0
    clock.now += 60
    backlog.accepted(1)  # the idle clock restarts when work starts waiting again
    assert backlog.depth == 1


async def test_admit_lets_in_at_once_while_there_is_room() -> None:
    backlog = Backlog(limit=10)
    assert await backlog.admit(4, hold_s=0)
    assert backlog.full is False  # 4 reserved of 10
    backlog.accepted(4)
    backlog.released(4)
    assert (backlog.depth, backlog.full) == (4, False)


async def test_admit_waits_for_the_consumer_then_reserves() -> None:
    backlog = Backlog(limit=2)
    backlog.accepted(2)
    waiting = asyncio.create_task(backlog.admit(2, hold_s=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # held, not refused
    backlog.handled(1)
    assert await asyncio.wait_for(waiting, 5)
    assert backlog.full  # 1 waiting + 2 reserved


async def test_one_report_of_progress_lets_in_only_what_fits() -> None:
    # Ten held calls woken by one report: the first two reserve the room, the rest keep waiting.
    backlog = Backlog(limit=5)
    backlog.accepted(5)
    held = [asyncio.create_task(backlog.admit(3, hold_s=0.3)) for _ in range(10)]
    await asyncio.sleep(0.05)
    backlog.handled(5)
    outcomes = await asyncio.gather(*held)
    assert outcomes.count(True) == 2  # let in at 0 and at 3 of 5; the third found 6
    assert backlog.full


async def test_admit_refuses_after_its_hold_and_reserves_nothing() -> None:
    backlog = Backlog(limit=1)
    backlog.accepted(1)
    started = asyncio.get_running_loop().time()
    assert not await backlog.admit(1, hold_s=0.2)
    assert asyncio.get_running_loop().time() - started >= 0.2
    backlog.handled(1)
    assert (backlog.depth, backlog.full) == (0, False)  # the refused call holds no room


async def test_room_given_up_is_room_for_the_next_call() -> None:
    backlog = Backlog(limit=3)
    assert await backlog.admit(3, hold_s=0)
    waiting = asyncio.create_task(backlog.admit(1, hold_s=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    backlog.released(3)  # e.g. the bus refused the first call's alerts
    assert await asyncio.wait_for(waiting, 5)
