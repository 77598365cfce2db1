"""How far the alert consumer is behind the webhook, so the webhook can push back before latency
and the stream grow without bound.

The gateway counts alerts it published, the handler counts alerts it finished (reported from the
consumer's own process when the webhook runs apart, see `consumer_process`). The difference
over-counts alerts the broker dropped as duplicates (they are never delivered), so when the
handler has made no progress for `idle_reset_s` while the count says work is waiting, the count
is taken to be stale and reset: back-pressure can lapse, never wedge.

A call that finds the backlog full waits for room (`admit`, up to the gateway's hold) before it
is refused: refused, a storm's sender sleeps its `Retry-After` (a whole second) while the
consumer works the backlog off in a fraction of it and then waits for alerts. Held, the call is
answered as soon as the consumer has made room. The alerts a held call is let in with are
reserved at once, so the calls one report of progress wakes do not all pass the limit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backlog:
    limit: int
    idle_reset_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _accepted: int = 0
    _handled: int = 0
    _reserved: int = 0  # let in by `admit`, not yet `released`
    _last_progress: float = field(default=0.0)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._last_progress = self.clock()

    def accepted(self, count: int) -> None:
        if self.depth == 0:
            self._last_progress = self.clock()  # idle time only counts while work is waiting
        self._accepted += count

    def released(self, count: int) -> None:
        """Alerts `admit` let in, now published (and `accepted`) or given up."""
        self._reserved = max(0, self._reserved - count)
        self._progress.set()

    def handled(self, count: int = 1) -> None:
        # Capped: alerts other producers publish directly were never counted as accepted.
        self._handled = min(self._handled + count, self._accepted)
        self._last_progress = self.clock()
        self._progress.set()

    @property
    def depth(self) -> int:
        waiting = self._accepted - self._handled
        if waiting > 0 and self.clock() - self._last_progress > self.idle_reset_s:
            self._handled = self._accepted
            waiting = 0
        return max(0, waiting)

    @property
    def full(self) -> bool:
        return self.depth + self._reserved >= self.limit

    async def admit(self, count: int, hold_s: float) -> bool:
        """Reserves room for `count` alerts, waiting up to `hold_s` for the consumer to make it;
        False (nothing reserved) if the backlog is still full then. Let in, the caller reports
        `released(count)` once the alerts are published (after `accepted`) or given up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold_s
        while self.full:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        self._reserved += count
        return True
