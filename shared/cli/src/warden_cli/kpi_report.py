"""The KPI report as one self-contained HTML page: tables and inline SVG plots, no external assets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from html import escape

from warden_audit.api import IncidentFacts, KpiReport

from warden_cli.kpi import format_value

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
th{background:#f3f3f3} .num{text-align:right} svg{margin:1em 0;display:block}
"""
_COLORS = {"acknowledge": "#4e79a7", "first useful action": "#f28e2b", "mitigate": "#59a14f"}
_OUTCOME_COLORS = {"autonomous": "#59a14f", "with a human": "#4e79a7", "escalated": "#e15759", "open": "#bab0ac"}


def _bar_chart(rows: Sequence[tuple[str, dict[str, float | None]]], series: dict[str, str], title: str) -> str:
    """Grouped horizontal bars, one group per row; values in seconds."""
    bar_h, gap, left, width = 10, 8, 180, 520
    peak = max((v for _, values in rows for v in values.values() if v is not None), default=0.0) or 1.0
    group_h = bar_h * len(series) + gap
    height = 40 + group_h * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" role="img">',
        f'<title>{escape(title)}</title><text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, values) in enumerate(rows):
        y0 = 30 + i * group_h
        parts.append(f'<text x="0" y="{y0 + bar_h * len(series) / 2 + 4}" font-size="11">{escape(label[:28])}</text>')
        for j, (name, color) in enumerate(series.items()):
            value = values.get(name)
            if value is None:
                continue
            w = max(1.0, width * value / peak)
            y = y0 + j * bar_h
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 1}" fill="{color}"/>')
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 1}" font-size="9">{value:.1f}s</text>')
    legend_y = height - 12
    for j, (name, color) in enumerate(series.items()):
        x = left + j * 170
        parts.append(f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{legend_y}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _outcome(facts: IncidentFacts) -> str:
    if facts.autonomous:
        return "autonomous"
    if facts.escalations:
        return "escalated"
    if facts.human_involved:
        return "with a human"
    return "open" if facts.resolved_at is None else "with a human"


def _daily_chart(facts: Sequence[IncidentFacts]) -> str:
    """Stacked columns: incidents per day by how they were handled."""
    days: dict[str, Counter[str]] = {}
    for f in facts:
        day = f.started_at.date().isoformat() if f.started_at else "unknown"
        days.setdefault(day, Counter())[_outcome(f)] += 1
    ordered = sorted(days.items())
    col_w, chart_h, left = 36, 160, 30
    peak = max((sum(c.values()) for _, c in ordered), default=1) or 1
    width = left + col_w * max(1, len(ordered)) + 200
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{chart_h + 70}" role="img">',
        '<title>Incidents per day</title><text x="0" y="16" font-size="14" font-weight="bold">Incidents per day</text>',
    ]
    for i, (day, counts) in enumerate(ordered):
        x, base = left + i * col_w, float(chart_h + 30)
        for name, color in _OUTCOME_COLORS.items():
            h = chart_h * counts[name] / peak
            if h:
                base -= h
                parts.append(f'<rect x="{x}" y="{base:.1f}" width="{col_w - 6}" height="{h:.1f}" fill="{color}"/>')
        parts.append(f'<text x="{x}" y="{chart_h + 44}" font-size="9">{escape(day[5:])}</text>')
        parts.append(f'<text x="{x}" y="{base - 3:.1f}" font-size="10">{sum(counts.values())}</text>')
    for j, (name, color) in enumerate(_OUTCOME_COLORS.items()):
        y = 30 + j * 16
        lx = left + col_w * max(1, len(ordered)) + 20
        parts.append(f'<rect x="{lx}" y="{y}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{y + 9}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f}"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def render_html(result: KpiReport) -> str:
    facts = result.incidents
    span = f"{_when(result.since) or 'the start'} to {_when(result.until) or 'now'}"
    kpi_rows = "".join(
        f"<tr><td>{escape(k.label)}</td><td class=num>{escape(format_value(k))}</td><td>{escape(k.detail)}</td></tr>"
        for k in result.kpis
    )
    incident_rows = "".join(
        "<tr>"
        f"<td>{escape(f.incident_id)}</td><td>{escape(str(f.service))}</td><td>{escape(f.environment)}</td>"
        f"<td>{escape(f.incident_class)}</td><td>{escape(_when(f.started_at))}</td>"
        f"<td class=num>{_fmt(f.since_start(f.acknowledged_at))}</td>"
        f"<td class=num>{_fmt(f.since_start(f.first_useful_at))}</td>"
        f"<td class=num>{_fmt(f.since_start(f.mitigated_at))}</td><td>{escape(_outcome(f))}</td>"
        f"<td>{escape(', '.join(f.plans))}</td></tr>"
        for f in facts
    )
    timings = [
        (
            f"{f.service or f.incident_id} {f.incident_class}",
            {
                "acknowledge": f.since_start(f.acknowledged_at),
                "first useful action": f.since_start(f.first_useful_at),
                "mitigate": f.since_start(f.mitigated_at),
            },
        )
        for f in facts
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>Warden incident KPIs</title><style>{_STYLE}</style></head><body>"
        f"<h1>Warden incident KPIs</h1><p>{len(facts)} incident(s), {escape(span)}. "
        "Computed from the audit log by <code>warden kpi</code>.</p>"
        f"<table><tr><th>KPI</th><th>value</th><th>basis</th></tr>{kpi_rows}</table>"
        f"{_bar_chart(timings, _COLORS, 'Seconds from first alert, per incident')}"
        f"{_daily_chart(facts)}"
        "<h2>Incidents</h2><table><tr><th>incident</th><th>service</th><th>env</th><th>class</th><th>started</th>"
        "<th>ack s</th><th>first useful s</th><th>mitigate s</th><th>handled</th><th>plan</th></tr>"
        f"{incident_rows}</table></body></html>"
    )
