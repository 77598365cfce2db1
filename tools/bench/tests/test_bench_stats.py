"""The shared tail statistic, and a baseline row that reads 1.0 against itself for any sample count."""

from __future__ import annotations

from warden_bench.executor import Samples
from warden_bench.executor import report as executor_report
from warden_bench.planner import report as planner_report
from warden_bench.stats import percentile


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 51.0
    assert percentile([3.0], 0.99) == 3.0


def test_a_baseline_with_an_even_sample_count_reads_one_against_itself() -> None:
    # an even count is where a median and a nearest-rank p50 part ways
    even = [1.0, 2.0, 9.0, 10.0]
    planner = planner_report({"baseline": even, "runbook": even, "llm": even}).splitlines()
    assert [line.split()[-1] for line in planner[1:]] == ["1.0", "1.0", "1.0"]
    executor = executor_report(Samples(baseline=even, started=even, acted=even, verified=even)).splitlines()
    assert all(line.endswith("1.0x") for line in executor[1:])
