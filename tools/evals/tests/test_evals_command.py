"""`warden eval` and `warden bench planner` are registered on the CLI and refuse bad input clearly."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner
from warden_cli.main import app


def test_eval_refuses_a_bad_scenario_before_starting_anything(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "broken.yaml" in result.output


def test_eval_rejects_an_unknown_planner(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--planner", "oracle"])
    assert result.exit_code != 0 and "runbook or llm" in result.output


def test_bench_planner_is_a_bench_command() -> None:
    result = CliRunner().invoke(app, ["bench", "planner", "--help"])
    assert result.exit_code == 0 and "without LLM latency" in result.output
