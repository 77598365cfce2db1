"""`warden kpi`: incident KPIs over a time range, computed from the audit log.

Definitions (per incident, from its first alert's `fired_at` or its `opened_at`, whichever is first):
- time to acknowledge: until the agent's first plan or escalation (or a human taking ownership);
- time to first useful action: until the start of the first action that then succeeded/verified,
  or a handoff (escalation with the evidence);
- time to mitigate: until the first verified fix or the incident's resolution;
- handled autonomously: a verified fix with no human decision and no escalation;
- false remediation: an executed action rolled back, or the incident came back within 24 h;
- escalation precision: escalations a human was needed for (not followed by an agent-only fix);
- human override: an approval denied or the incident taken over by a human commander;
- alert-to-incident compression: alerts received per incident opened.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit.reader import read_records

from warden_cli.incident_facts import IncidentFacts, Record, incident_facts, record_time
from warden_cli.layout import Layout, default_data_dir


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # "s" (seconds, median shown), "ratio", "x"
    value: float | None
    detail: str


@dataclass(frozen=True)
class KpiReport:
    since: datetime | None
    until: datetime | None
    incidents: list[IncidentFacts]
    kpis: list[Kpi]

    def by_key(self) -> dict[str, Kpi]:
        return {k.key: k for k in self.kpis}


def _duration(key: str, label: str, values: Sequence[float | None]) -> Kpi:
    present = sorted(v for v in values if v is not None)
    if not present:
        return Kpi(key, label, "s", None, f"n=0 of {len(values)}")
    p90 = present[min(len(present) - 1, round(0.9 * (len(present) - 1)))]
    return Kpi(
        key,
        label,
        "s",
        statistics.median(present),
        f"median of n={len(present)} of {len(values)}; p90 {p90:.1f}s; max {present[-1]:.1f}s",
    )


def _ratio(key: str, label: str, hits: int, total: int, of: str) -> Kpi:
    return Kpi(key, label, "ratio", hits / total if total else None, f"{hits} of {total} {of}")


def compute(facts: Sequence[IncidentFacts], alerts: int) -> list[Kpi]:
    acted = [f for f in facts if f.executed_actions]
    escalated = [f for f in facts if f.escalations]
    proposing = [f for f in facts if f.proposed_actions]
    justified = sum(1 for f in escalated if f.escalation_justified())
    return [
        _duration("time_to_acknowledge_s", "Time to acknowledge", [f.since_start(f.acknowledged_at) for f in facts]),
        _duration(
            "time_to_first_useful_action_s",
            "Time to first useful action",
            [f.since_start(f.first_useful_at) for f in facts],
        ),
        _duration("time_to_mitigate_s", "Time to mitigate", [f.since_start(f.mitigated_at) for f in facts]),
        _ratio("autonomous_share", "Handled autonomously", sum(f.autonomous for f in facts), len(facts), "incidents"),
        _ratio(
            "false_remediation_rate",
            "False-remediation rate",
            sum(f.false_remediation for f in acted),
            len(acted),
            "incidents with an executed action (rolled back or re-opened)",
        ),
        _ratio("escalation_precision", "Escalation precision", justified, len(escalated), "escalated incidents"),
        _ratio(
            "human_override_rate",
            "Human override rate",
            sum(f.overridden for f in proposing),
            len(proposing),
            "incidents with proposals (denied or taken over)",
        ),
        Kpi(
            "alert_to_incident_compression",
            "Alert-to-incident compression",
            "x",
            alerts / len(facts) if facts else None,
            f"{alerts} alerts into {len(facts)} incidents",
        ),
    ]


def in_range(moment: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if moment is None:
        return since is None and until is None
    return (since is None or moment >= since) and (until is None or moment < until)


def report(records: Iterable[Record], since: datetime | None = None, until: datetime | None = None) -> KpiReport:
    records = list(records)
    facts = [f for f in incident_facts(records) if in_range(f.started_at, since, until)]
    alerts = sum(1 for r in records if r["type"] == "sre.alert.received.v1" and in_range(record_time(r), since, until))
    return KpiReport(since, until, facts, compute(facts, alerts))


_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> datetime | None:
    """An ISO date/time (UTC if no zone) or a span back from now: `90m`, `24h`, `7d`, `2w`."""
    if not text:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now() - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither an ISO time nor a span like 24h or 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        name = f"warden_kpi_{kpi.key.removesuffix('_s')}" + ("_seconds" if kpi.unit == "s" else "")
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
    directory = audit_dir or Layout((data_dir or default_data_dir()).resolve()).audit_dir
    result = report(read_records(directory), parse_moment(since), parse_moment(until))
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
