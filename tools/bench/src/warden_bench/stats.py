"""The tail statistic every benchmark reports; each report takes its p50s, its baseline's among
them, with `statistics.median`, so a row measured against itself reads exactly 1.0."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q < 1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
