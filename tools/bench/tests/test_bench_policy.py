"""Smoke test of `warden bench policy` with a tiny N: every phase measures real round trips,
observed by a core subscriber or by a pull consumer of the decisions' stream."""

from __future__ import annotations

import pytest
from warden_bench.policy import approval_request_like_the_gates, bench, chunk_sizes, percentile


@pytest.mark.parametrize(("chunks", "durable"), [(2, False), (1, True)], ids=["core-subscriber", "pull-consumer"])
async def test_cli_bench_policy_smoke(chunks: int, durable: bool) -> None:
    results = await bench(rounds=5, warmup=1, chunks=chunks, durable=durable)
    assert {name: len(samples) for name, samples in results.items()} == {
        "baseline": 5,
        "pair": 5,
        "gate": 5,
        "rules": 5,
        "gate_ratio_per_turn": chunks,
    }
    assert all(s > 0 for samples in results.values() for s in samples)
    if chunks == 1:  # one turn: its ratio is the run's (the median of 5 samples is the third)
        assert results["gate_ratio_per_turn"] == [sorted(results["gate"])[2] / sorted(results["baseline"])[2]]
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_the_pair_relays_an_approval_request_of_the_gates_own_making() -> None:
    request = approval_request_like_the_gates()
    assert request.adaptive_card["actions"][0]["verb"] == "approve"
    assert request.action.kind == "rollback_deployment"
    assert request.brief is not None
    assert request.rollback_plan


def test_baseline_and_gate_take_turns_in_even_chunks() -> None:
    assert chunk_sizes(300, 4) == [75, 75, 75, 75]
    assert chunk_sizes(10, 4) == [3, 3, 2, 2]
    assert chunk_sizes(2, 4) == [1, 1]
    assert chunk_sizes(5, 1) == [5]
