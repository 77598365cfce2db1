"""Shape test of `warden bench e2e` with two rounds on the real embedded stack: every hop is
observed for every round and the output carries what the issue asks for.

No timing is asserted (the numbers come from the command itself)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_bench.e2e import HOPS, MAX_ACTIONS, measure, report
from warden_cli.main import app


async def test_every_round_is_timed_hop_by_hop_against_a_same_run_baseline(tmp_path: Path) -> None:
    result = await measure(2, 0, 0.5, tmp_path)

    assert len(result.totals) == len(result.baseline) == 2
    for i, total in enumerate(result.totals):
        hops = [result.hops[h][i] for h in HOPS]
        assert all(h >= 0 for h in hops)
        # The four hops follow one another: together they are the whole alert -> started time.
        assert math.isclose(sum(hops), total, rel_tol=1e-9)
        assert result.hops["webhook_to_alert"][i] <= result.hops["webhook_to_incident"][i]
    out = result.as_json()
    assert {
        "p50_ms",
        "p99_ms",
        "hops",
        "baseline_p50_ms",
        "ratio_p50",
        "durability",
        "rounds_rerun_after_oom",
    } <= out.keys()
    assert set(out["hops"]) == {*HOPS, "webhook_to_alert"}
    assert out["durability"]["jetstream_sync_interval"] == "always"
    assert out["durability"] == out["baseline_durability"] and out["ratio_p50"] is not None
    table = report(result)
    assert "alert -> action started (total)" in table and "decision -> executor started" in table


async def test_refuses_more_rounds_than_the_gate_allows_actions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        await measure(MAX_ACTIONS, 1, 0.4, tmp_path)


def test_bench_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["bench", "e2e", "--help"])
    assert result.exit_code == 0 and "--json" in result.output and "--rounds" in result.output
