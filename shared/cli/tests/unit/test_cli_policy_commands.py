"""`warden policy test` and `warden policy replay` as an operator runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner
from warden_cli.main import app
from warden_cli.moments import moment

runner = CliRunner()


def _copy_policy(target: Path) -> Path:
    shipped = resources.files("warden_policy").joinpath("cedar")
    target.mkdir()
    for entry in shipped.iterdir():
        (target / entry.name).write_text(entry.read_text())
    return target


def test_cli_policy_test_passes_for_the_shipped_policy() -> None:
    result = runner.invoke(app, ["policy", "test"])
    assert result.exit_code == 0, result.output
    assert "validated against the schema" in result.output and " 0 failed" in result.output


def test_cli_policy_test_fails_a_weakened_policy_and_names_the_case(tmp_path: Path) -> None:
    policy = _copy_policy(tmp_path / "cedar")
    gate = policy / "gate.cedar"
    gate.write_text(gate.read_text().replace("when { context.kill_switch };", "when { false && context.kill_switch };"))
    result = runner.invoke(app, ["policy", "test", "--policy-dir", str(policy)])
    assert result.exit_code == 1
    assert "FAIL the kill switch stops everything" in result.output


def test_cli_policy_test_refuses_an_invalid_policy(tmp_path: Path) -> None:
    policy = _copy_policy(tmp_path / "cedar")
    (policy / "gate.cedar").write_text("permit (principal, action, resource) when { context.nope };")
    result = runner.invoke(app, ["policy", "test", "--policy-dir", str(policy)])
    assert result.exit_code == 2


def test_cli_policy_replay_over_an_empty_audit_log(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    result = runner.invoke(app, ["policy", "replay", "--since", "6h", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "replayed 0 decisions from 0 proposals" in result.output


def test_cli_policy_since_accepts_durations_and_iso_times() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert moment("90m", lambda: now) == now - timedelta(minutes=90)
    assert moment("7d", lambda: now) == now - timedelta(days=7)
    assert moment("2026-11-20T08:00:00", lambda: now) == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
