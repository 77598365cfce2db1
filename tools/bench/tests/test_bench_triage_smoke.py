"""`warden bench triage` end to end with a tiny storm: the numbers exist and add up (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner
from warden_bench.triage import cpu_ms_per_alert_by_quarter, measure, report
from warden_cli.main import app


async def test_bench_measures_a_small_storm(tmp_path: Path) -> None:
    result = await measure(200, 0, tmp_path)
    assert result.alerts == 200 and result.incidents == 50
    assert len(result.latencies) == 200 and min(result.latencies) >= 0
    assert result.raw_publish_per_s > 0 and result.raw_consume_per_s > 0
    assert result.peak_kib > 0
    # The ratio's baseline ran before and after triage; the ratio is against their mean.
    assert len(result.raw_e2e_runs) == 2 and all(x > 0 for x in result.raw_e2e_runs)
    assert result.raw_e2e_per_s == sum(result.raw_e2e_runs) / 2
    assert result.as_json()["raw_end_to_end_runs_per_s"] == [round(x, 1) for x in result.raw_e2e_runs]
    quarters = result.as_json()["triage_cpu_ms_per_alert_by_quarter"]
    assert len(quarters) == 4 and all(q >= 0 for q in quarters)
    # The quarters share out the CPU from the first POST to the last commit: no more than the storm's.
    total = sum(q * result.alerts / 4 for q in result.cpu_by_quarter) / 1000
    assert result.cpu_samples[0][1] == 0 and 0 <= total <= result.cpu_s + 1e-9
    text = report(result)
    assert "x raw publish" in text and "p99" in text and "VmHWM" in text and "by quarter" in text
    assert "after triage" in text


def test_bench_refuses_a_storm_that_cannot_be_split_evenly() -> None:
    outcome = CliRunner().invoke(app, ["bench", "triage", "--alerts", "250"])
    assert outcome.exit_code != 0
    assert "multiple of 200" in outcome.output


def test_cpu_by_quarter_splits_the_cpu_at_each_quarters_last_commit() -> None:
    # One CPU second per wall second from t=0; eight alerts committed at t=1..8 after a POST at 0.
    samples = [(float(t), float(t)) for t in range(0, 10, 2)]
    commits = [float(t) for t in range(8, 0, -1)]  # order given does not matter: commit order counts
    assert cpu_ms_per_alert_by_quarter(samples, commits, 0.0) == [1000.0, 1000.0, 1000.0, 1000.0]
    # The CPU rising over the storm shows as rising quarters.
    rising = [(0.0, 0.0), (2.0, 1.0), (4.0, 3.0), (6.0, 6.0), (8.0, 10.0)]
    assert cpu_ms_per_alert_by_quarter(rising, commits, 0.0) == [500.0, 1000.0, 1500.0, 2000.0]
    assert cpu_ms_per_alert_by_quarter([], commits, 0.0) == []
    assert cpu_ms_per_alert_by_quarter(samples, [1.0, 2.0], 0.0) == []
