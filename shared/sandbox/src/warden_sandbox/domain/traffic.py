"""Simulated request traffic: the cumulative counts a real service's metrics would show.

The world holds each service's current error rate and p95 latency; Prometheus expects counters
and a latency histogram it can take rates of. Each tick adds that tick's requests: failures in
proportion to the error rate, durations spread over the buckets by an exponential distribution
whose 95th percentile is the current latency, so `rate(...)` and `histogram_quantile(0.95, ...)`
over the exposition give back what the world simulates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Upper bounds in seconds (Prometheus client defaults); +Inf is implied.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUESTS_PER_REPLICA_S = 10.0
_LN20 = math.log(20.0)  # an exponential's p95 is ln(20) times its mean


@dataclass
class ServiceTraffic:
    requests: float = 0.0
    errors: float = 0.0
    duration_sum_s: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(LATENCY_BUCKETS))

    def add(self, requests: float, error_rate: float, p95_s: float) -> None:
        self.requests += requests
        self.errors += requests * min(1.0, max(0.0, error_rate))
        mean_s = max(p95_s, 1e-6) / _LN20
        self.duration_sum_s += requests * mean_s
        for i, bound in enumerate(LATENCY_BUCKETS):
            self.buckets[i] += requests * (1.0 - math.exp(-bound / mean_s))


class Traffic:
    """Cumulative traffic per service name; counters never go back, as in a live process."""

    def __init__(self) -> None:
        self.services: dict[str, ServiceTraffic] = {}

    def advance(self, views: Iterable[dict[str, Any]], seconds: float) -> None:
        for view in views:
            served = self.services.setdefault(str(view["name"]), ServiceTraffic())
            if not view.get("healthy", 1):
                continue  # a crashed service serves nothing
            requests = REQUESTS_PER_REPLICA_S * max(1, int(view.get("replicas") or 0)) * max(0.0, seconds)
            served.add(requests, float(view.get("error_rate") or 0.0), float(view.get("latency_ms") or 0.0) / 1000)

    def of(self, name: str) -> ServiceTraffic:
        return self.services.get(name) or ServiceTraffic()
