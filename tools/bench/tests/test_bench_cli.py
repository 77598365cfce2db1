"""`warden bench cli` times real `warden` processes and prints every case (no timing asserted)."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from warden_bench.cli import cases, service_roots, warden_script
from warden_cli.main import app


def test_bench_cli_reports_every_case_against_the_baseline() -> None:
    result = CliRunner().invoke(app, ["bench", "cli", "--runs", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["runs"] == 2
    assert set(report["cases"]) == {"python -c pass", "warden --version", "warden --help"}
    base = report["cases"]["python -c pass"]["median_s"]
    for row in report["cases"].values():
        assert row["min_s"] <= row["median_s"] <= row["max_s"]
        assert abs(row["above_baseline_s"] - (row["median_s"] - base)) < 1e-3


def test_bench_cli_table_names_the_baseline() -> None:
    result = CliRunner().invoke(app, ["bench", "cli", "--runs", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warden bench cli: median of 1 fresh processes")
    assert lines[1].startswith("python -c pass ")
    assert [line.split(" s ")[0].rsplit(" ", 1)[0].strip() for line in lines[2:]] == [
        "warden --version",
        "warden --help",
    ]


def test_the_services_option_adds_every_launched_composition_root() -> None:
    roots = service_roots()
    assert {"warden_triage.app", "warden_policy.app", "warden_executor.app", "warden_audit.app"} <= set(roots)
    names = [case.name for case in cases(warden_script(), services=True)]
    assert names[:3] == ["python -c pass", "warden --version", "warden --help"]
    assert names[3:] == [f"import {root}" for root in roots]
