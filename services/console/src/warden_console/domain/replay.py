"""Remembers what was already handled for a while, so a replayed request changes nothing."""

from __future__ import annotations

from collections import OrderedDict


class ReplayGuard:
    def __init__(self, window_s: float, limit: int = 100_000) -> None:
        self._window = window_s
        self._limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str, now: float) -> bool:
        """True the first time `key` is seen within the window (and remembers it)."""
        while self._seen and (next(iter(self._seen.values())) <= now or len(self._seen) > self._limit):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now + self._window
        return True
