"""Smoke test of `warden bench executor` with a tiny N: it runs end to end and reports every row.

No timing is asserted (the numbers come from the command itself, on a quiet machine)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner
from warden_bench.executor import measure, report
from warden_cli.main import app


async def test_bench_measures_each_stage_for_every_round(tmp_path: Path) -> None:
    samples = await measure(3, tmp_path)

    assert len(samples.baseline) == len(samples.started) == len(samples.acted) == len(samples.verified) == 3
    # Stages happen in order for each action: started, then the write, then the verified report.
    for started, acted, verified in zip(samples.started, samples.acted, samples.verified, strict=True):
        assert 0 < started <= acted <= verified
    table = report(samples)
    assert "baseline publish->consume" in table and "approval -> verified report" in table


def test_bench_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["bench", "executor", "--help"])
    assert result.exit_code == 0 and "--rounds" in result.output
