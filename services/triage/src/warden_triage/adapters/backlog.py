"""How far the alert consumer is behind the webhook, so the webhook can push back before latency
and the stream grow without bound.

The gateway counts alerts it published, the handler counts alerts it finished (reported from the
consumer's own process when the webhook runs apart, see `consumer_process`). The difference
over-counts alerts the broker dropped as duplicates (they are never delivered), so when the
handler has made no progress for `idle_reset_s` while the count says work is waiting, the count
is taken to be stale and reset: back-pressure can lapse, never wedge.
"""

from __future__ import annotations

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
    _last_progress: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._last_progress = self.clock()

    def accepted(self, count: int) -> None:
        if self.depth == 0:
            self._last_progress = self.clock()  # idle time only counts while work is waiting
        self._accepted += count

    def handled(self, count: int = 1) -> None:
        # Capped: alerts other producers publish directly were never counted as accepted.
        self._handled = min(self._handled + count, self._accepted)
        self._last_progress = self.clock()

    @property
    def depth(self) -> int:
        waiting = self._accepted - self._handled
        if waiting > 0 and self.clock() - self._last_progress > self.idle_reset_s:
            self._handled = self._accepted
            waiting = 0
        return max(0, waiting)

    @property
    def full(self) -> bool:
        return self.depth >= self.limit
