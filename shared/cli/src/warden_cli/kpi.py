"""`warden kpi`: incident KPIs over a time range, computed by audit from its log
(`warden_audit.api.kpis`; the definitions are in `warden_audit.domain.kpis`); this module parses
the range and renders the report as a table, JSON, Prometheus text or HTML (`kpi_report`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit import api as audit
from warden_audit.api import Kpi, KpiReport
from warden_audit.api import kpi_report as report

from warden_cli.data_dir import audit_log_dir
from warden_cli.moments import parse_moment

# `report` (audit's KPI report over records) and `parse_moment` stay importable from here for the
# tests that use them.
__all__ = ["as_json", "format_value", "parse_moment", "prometheus", "report", "run"]


def format_value(kpi: Kpi) -> str:
    if kpi.value is None:
        return "n/a"
    if kpi.unit == "s":
        return f"{kpi.value:.1f}s"
    if kpi.unit == "ratio":
        return f"{kpi.value:.0%}"
    return f"{kpi.value:.2f}x"


def as_json(result: KpiReport) -> dict[str, Any]:
    return {
        "since": result.since.isoformat() if result.since else None,
        "until": result.until.isoformat() if result.until else None,
        "incidents": len(result.incidents),
        "kpis": [asdict(k) for k in result.kpis],
    }


def prometheus(result: KpiReport) -> str:
    """Prometheus text exposition (for a node-exporter textfile collector or a push gateway)."""
    lines = ["# Incident KPIs computed by `warden kpi` from the audit log."]
    lines += ["# TYPE warden_kpi_incidents gauge", f"warden_kpi_incidents {len(result.incidents)}"]
    for kpi in result.kpis:
        name = audit.metric_name(kpi.key, kpi.unit)
        lines.append(f"# HELP {name} {kpi.label} ({kpi.detail})")
        lines.append(f"# TYPE {name} gauge")
        label = '{quantile="0.5"}' if kpi.unit == "s" else ""
        lines.append(f"{name}{label} {'NaN' if kpi.value is None else repr(float(kpi.value))}")
    return "\n".join(lines) + "\n"


def run(
    since: Annotated[str | None, typer.Option(help="start: ISO time or a span back from now (24h, 7d)")] = None,
    until: Annotated[str | None, typer.Option(help="end (exclusive): ISO time or a span back from now")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML report")] = None,
    as_json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    as_prometheus: Annotated[bool, typer.Option("--prometheus", help="print Prometheus text exposition")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")] = None,
    audit_dir: Annotated[Path | None, typer.Option(help="audit log directory (default <data-dir>/audit)")] = None,
) -> None:
    """Incident KPIs (time to acknowledge / first useful action / mitigate, autonomy, overrides, ...)."""
    directory = audit_log_dir(data_dir, audit_dir)
    result = audit.kpis(directory, parse_moment(since), parse_moment(until))
    if as_json_out:
        typer.echo(json.dumps(as_json(result), indent=2))
    elif as_prometheus:
        typer.echo(prometheus(result), nl=False)
    else:
        typer.echo(f"{len(result.incidents)} incident(s) from {since or 'the start'} until {until or 'now'}")
        for kpi in result.kpis:
            typer.echo(f"  {kpi.label:<32} {format_value(kpi):>8}   {kpi.detail}")
    if html is not None:
        from warden_cli.kpi_report import render_html

        html.write_text(render_html(result))
        typer.echo(f"HTML report written to {html}")
