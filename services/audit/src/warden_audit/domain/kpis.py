"""Incident KPIs over a time range, computed from audit records.

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

Pure: the CLI (`warden kpi`) and the audit service's /metrics gauges compute them the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from warden_audit.domain.incident_facts import IncidentFacts, Record, incident_facts, record_time


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


def metric_name(key: str, unit: str) -> str:
    """The Prometheus name of a KPI, alike on audit's /metrics and in `warden kpi --prometheus`."""
    return f"warden_kpi_{key.removesuffix('_s')}" + ("_seconds" if unit == "s" else "")


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
