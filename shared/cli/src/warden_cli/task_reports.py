"""`warden tasks`: the scheduled tasks' reports, newest last, as audit recorded them
(`warden_audit.api.task_reports`); this module renders them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit import api as audit

from warden_cli.data_dir import existing_layout


def render(report: dict[str, Any]) -> list[str]:
    head = (
        f"{report.get('scheduled_for', '')[:19]}  {report.get('task')}  {report.get('status')}: {report.get('summary')}"
    )
    lines = [head]
    lines += [
        f"    {f.get('severity'):<8} {f.get('subject')}: {f.get('summary')}"
        for f in report.get("findings", [])
        if f.get("severity") != "ok"
    ]
    lines += [f"    proposed plan {plan} (through the policy gate)" for plan in report.get("proposals", [])]
    return lines


def run(
    task: Annotated[str | None, typer.Argument(help="only this task")] = None,
    last: Annotated[int, typer.Option(help="how many of the newest reports", min=1)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")] = None,
) -> None:
    """Reports of scheduled runs (health checks, cost reports, certificate sweeps), with what needs attention."""
    layout = existing_layout(data_dir)
    reports = audit.task_reports(layout.audit_dir, task)[-last:]
    if as_json:
        typer.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        typer.echo("no scheduled task reports in the audit log yet")
    for report in reports:
        typer.echo("\n".join(render(report)))
