"""`warden bench planner` smoke test with a tiny N: every variant measured, the report is well formed."""

from __future__ import annotations

from warden_bench.planner import bench, report


async def test_bench_planner_measures_every_variant_against_the_baseline() -> None:
    samples = await bench(rounds=14)
    assert set(samples) == {"baseline", "runbook", "llm"}
    assert all(len(values) == 14 and all(v > 0 for v in values) for values in samples.values())
    lines = report(samples).splitlines()
    assert "p50 ms" in lines[0] and "x baseline p50" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["baseline", "runbook", "llm"]
    assert lines[1].split()[-1] == "1.0"
