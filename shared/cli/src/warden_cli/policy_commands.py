"""`warden policy test` and `warden policy replay`: the policy's own test cases, and what a changed
policy would have decided differently over recorded history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit import api as audit
from warden_policy import api as policy
from warden_policy.api import ConfigError, PolicyError, PolicyTestRun

from warden_cli.data_dir import existing_layout
from warden_cli.moments import moment

policy_app = typer.Typer(help="The gate's Cedar policy: run its test cases, replay history through it.")

PolicyDir = Annotated[
    Path | None, typer.Option("--policy-dir", help="directory with *.cedar, schema.cedarschema, policy_tests.yaml")
]


def _policy_invalid(err: PolicyError) -> typer.Exit:
    typer.secho(f"policy invalid: {err}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@policy_app.command("test")
def test(
    policy_dir: PolicyDir = None,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document (docs/cli.md)")] = False,
) -> None:
    """Validate the policy against its schema and run its own test cases; non-zero exit on failure."""
    try:
        run = policy.run_policy_tests(policy_dir)
    except PolicyError as err:
        raise _policy_invalid(err) from None
    info, origin, results, failed = run.info, run.cases_file, run.results, run.failed
    if as_json:
        typer.echo(json.dumps(_test_json(run), sort_keys=True))
        raise typer.Exit(1 if failed else 0)
    typer.echo(f"policy {info.source}: {info.policies} policies, validated against the schema")
    for result in results:
        if verbose or not result.passed:
            mark = "ok  " if result.passed else "FAIL"
            wanted = result.case.expect + (f" because {', '.join(result.case.because)}" if result.case.because else "")
            typer.echo(
                f"  {mark} {result.case.name}: got {result.got} ({', '.join(result.rules) or 'no rule'}); "
                f"expected {wanted}"
            )
    typer.echo(f"{origin}: {len(results) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def _test_json(run: PolicyTestRun) -> dict[str, Any]:
    info = run.info
    return {
        "ok": run.failed == 0,
        "policy": {
            "source": str(info.source),
            "policies": info.policies,
            "rule_ids": list(info.rule_ids),
            "validated": True,
        },
        "cases_file": run.cases_file,
        "passed": run.passed,
        "failed": run.failed,
        "cases": [
            {
                "name": r.case.name,
                "passed": r.passed,
                "expected": r.case.expect,
                "because": list(r.case.because),
                "got": r.got,
                "rules": list(r.rules),
            }
            for r in run.results
        ],
    }


@policy_app.command("replay")
def replay_command(
    since: Annotated[str, typer.Option("--since", help="ISO time or duration back from now (6h, 7d)")],
    policy_dir: PolicyDir = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="response_plans.yaml + approvers.yaml")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
    show_all: bool = typer.Option(False, "--all", help="also list decisions that did not change"),
) -> None:
    """Replay recorded proposals from the audit log through POLICY_DIR and print what changes."""
    start = moment(since, example="a duration like 6h")
    try:
        gate = policy.replay_gate(policy_dir, config_dir)
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except PolicyError as err:
        raise _policy_invalid(err) from None
    layout = existing_layout(data_dir)
    report = gate.replay(audit.records(layout.audit_dir), start)
    for item in report.decisions if show_all else report.differences:
        change = f"{item.recorded} -> {item.replayed}" if item.differs else f"{item.recorded} (unchanged)"
        typer.echo(
            f"{item.at.isoformat(timespec='seconds')} {item.incident_id} {item.kind} on {item.target} "
            f"[{item.environment}]: {change}\n    {'; '.join(item.reasons)}"
        )
    for skipped in report.skipped:
        typer.secho(f"skipped unreadable record {skipped}", fg=typer.colors.YELLOW, err=True)
    typer.echo(
        f"replayed {len(report.decisions)} decisions from {report.proposals} proposals since "
        f"{start.isoformat(timespec='seconds')}: {len(report.differences)} would differ"
    )
