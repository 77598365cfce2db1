"""`warden shadow report`: what the agent would have done in shadow mode, against what humans did.

The comparison is audit's read model (`warden_audit.api.shadow`, verdicts same / different / none);
this module parses the range and renders it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from warden_audit import api as audit

from warden_cli.data_dir import audit_log_dir
from warden_cli.moments import parse_moment

shadow_app = typer.Typer(help="Shadow mode: would-be actions compared with what humans did.")


@shadow_app.command("report")
def report(
    since: Annotated[str | None, typer.Option(help="start: ISO time or a span back from now (24h, 7d)")] = None,
    until: Annotated[str | None, typer.Option(help="end (exclusive)")] = None,
    plan: Annotated[str | None, typer.Option(help="only incidents of this response plan")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")] = None,
    audit_dir: Annotated[Path | None, typer.Option(help="audit log directory (default <data-dir>/audit)")] = None,
) -> None:
    """Each shadow-mode decision and whether humans later did the same, something else, or nothing."""
    directory = audit_log_dir(data_dir, audit_dir)
    found = audit.shadow(directory, parse_moment(since), parse_moment(until), plan)
    items, totals = found.decisions, found.totals
    if as_json:
        typer.echo(json.dumps({"totals": totals, "decisions": [asdict(d) for d in items]}, indent=2))
        return
    if not items:
        typer.echo(f"no shadow-mode decisions among {found.incidents} incident(s) in range")
        return
    for d in items:
        humans = "; ".join(d.humans_did) or "-"
        typer.echo(f"{d.incident_id}  {d.verdict:<9} would: {d.would:<40} humans: {humans}")
    typer.echo(
        f"{len(items)} shadow decision(s): {totals['same']} same, {totals['different']} different, "
        f"{totals['none']} with no human action"
    )
