"""What the planner said about its own inputs and about the outcome, for the incident page and list:
`suspected_injection` findings (text that tried to instruct the agent, and the Review it forced) and
the `recovered` outcome (the symptom was gone; nothing was done).

Findings quote alert and tool text: untrusted, shown as data (the templates escape it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]
INJECTION = "suspected_injection"
PLAN = "sre.plan.proposed.v1"
MAX_SHOWN = 10


@dataclass(frozen=True)
class InjectionWarning:
    source: str  # where the text came from, e.g. "alert.description" or "get_logs(checkout-api)"
    rule: str  # which detector rule matched
    excerpt: str


@dataclass(frozen=True)
class Recovery:
    """The planner's latest plan found the symptom gone."""

    note: str
    at: str
    then: str  # what became of it: "waiting for the monitor's Resolved", "resolved", "handed to a human"


def _data(record: Record) -> Mapping[str, Any]:
    envelope = record.get("envelope") or {}
    data = envelope.get("data") if isinstance(envelope, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _ordered(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: int(r.get("seq", 0)))


def injection_warnings(records: Iterable[Record]) -> list[InjectionWarning]:
    """Every distinct `suspected_injection` finding on the incident's plans, first seen first."""
    found: dict[tuple[str, str, str], InjectionWarning] = {}
    for record in _ordered(records):
        if record.get("type") != PLAN:
            continue
        for finding in _data(record).get("findings") or ():
            if not isinstance(finding, Mapping) or finding.get("kind") != INJECTION:
                continue
            warning = InjectionWarning(
                str(finding.get("source") or "?"), str(finding.get("rule") or "?"), str(finding.get("excerpt") or "")
            )
            found.setdefault((warning.source, warning.rule, warning.excerpt), warning)
    return list(found.values())[:MAX_SHOWN]


def forced_review(records: Iterable[Record]) -> list[str]:
    """Policy's own words where a finding pinned a decision to Review (the rule id is in its reasons)."""
    reasons: list[str] = []
    for record in _ordered(records):
        if record.get("type") != "sre.policy.decided.v1":
            continue
        data = _data(record)
        for reason in data.get("reasons") or ():
            if INJECTION in str(reason):
                reasons.append(f"{data.get('kind')} on {data.get('target') or '?'}: {data.get('outcome')} ({reason})")
    return list(dict.fromkeys(reasons))[:MAX_SHOWN]


def recovery(records: Iterable[Record]) -> Recovery | None:
    """The latest plan's "recovered" outcome and what followed it; None once a later plan acts again."""
    found: Recovery | None = None
    for record in _ordered(records):
        kind, data = record.get("type"), _data(record)
        if kind == PLAN:
            recovered = data.get("outcome") == "recovered"
            note = str(data.get("operator_summary") or data.get("summary") or "recovered")
            at = str(record.get("recorded_at") or "")
            found = Recovery(note, at, "waiting for the monitor's Resolved") if recovered else None
        elif found and kind == "sre.escalation.raised.v1":
            found = Recovery(found.note, found.at, f"handed to a human: {data.get('reason') or 'still open'}")
        elif found and kind == "sre.incident.changed.v1" and data.get("change") == "resolved":
            found = Recovery(found.note, found.at, "resolved")
    return found
