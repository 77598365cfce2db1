"""Smoke test of `warden bench policy` with a tiny N: both phases measure real round trips."""

from __future__ import annotations

from warden_bench.policy import bench, percentile


async def test_cli_bench_policy_smoke() -> None:
    results = await bench(rounds=5, warmup=1)
    assert {name: len(samples) for name, samples in results.items()} == {"baseline": 5, "gate": 5, "rules": 5}
    assert all(s > 0 for samples in results.values() for s in samples)
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
