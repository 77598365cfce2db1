"""The webhook's view of the consumer backlog: bounded, and never stuck on a stale count."""

from __future__ import annotations

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
