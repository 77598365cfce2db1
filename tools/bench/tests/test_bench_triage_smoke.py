"""`warden bench triage` end to end with a tiny storm: the numbers exist and add up (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner
from warden_bench.triage import measure, report
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
    text = report(result)
    assert "x raw publish" in text and "p99" in text and "VmHWM" in text
    assert "after triage" in text


def test_bench_refuses_a_storm_that_cannot_be_split_evenly() -> None:
    outcome = CliRunner().invoke(app, ["bench", "triage", "--alerts", "250"])
    assert outcome.exit_code != 0
    assert "multiple of 200" in outcome.output
