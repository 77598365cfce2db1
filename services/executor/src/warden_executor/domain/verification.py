"""Polling a target until the catalog's verification checks hold, or time runs out.

Success is only ever claimed with the observation that proved it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from warden_contracts.catalog import MetricCheck, Verification

from warden_executor.domain.model import TargetError

POLL_INTERVAL_S = 0.5


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time (UTC, aware): expiry of signatures and grants."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps: deadlines."""

    async def sleep(self, seconds: float) -> None: ...


Observe = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    observed: dict[str, Any]
    failing: list[str]
    attempts: int
    errors: list[str] = field(default_factory=list)

    def evidence(self, checks: list[MetricCheck]) -> dict[str, Any]:
        return {
            "checks": [c.describe() for c in checks],
            "metrics": {c.metric: self.observed.get(c.metric) for c in checks},
            "observed": self.observed,
            "attempts": self.attempts,
        }


def failing_checks(checks: list[MetricCheck], view: dict[str, Any]) -> list[str]:
    return [f"{c.describe()} (observed {view.get(c.metric, '<missing>')!r})" for c in checks if not c.holds(view)]


async def verify(
    observe: Observe, target: str, recipe: Verification, clock: Clock, interval_s: float = POLL_INTERVAL_S
) -> VerificationResult:
    if recipe.settle_s > 0:
        await clock.sleep(recipe.settle_s)
    deadline = clock.monotonic() + recipe.timeout_s
    attempts = 0
    observed: dict[str, Any] = {}
    failing = ["no observation yet"]
    errors: list[str] = []
    while True:
        attempts += 1
        try:
            observed = await observe(target)
            failing = failing_checks(recipe.checks, observed)
        except TargetError as err:
            # A failed read is not evidence either way: keep polling until the deadline.
            errors.append(str(err))
            failing = [f"target could not be observed: {err}"]
        if not failing:
            return VerificationResult(True, observed, [], attempts, errors[-5:])
        if clock.monotonic() >= deadline:
            return VerificationResult(False, observed, failing, attempts, errors[-5:])
        await clock.sleep(interval_s)
