"""Suspected prompt injection: text in alerts, logs or tool answers that tries to instruct the agent.

Pure and deterministic. It never decides anything by itself: a hit becomes a `suspected_injection`
finding on the plan, and the policy can only get stricter because of it (Review pinned). So the
rules favour precision on ordinary log lines ("ignoring previous checkpoint", "user: alice") over
catching every paraphrase; the model is told to treat all of it as data regardless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from warden_contracts.catalog import default_catalog
from warden_contracts.events import Evidence, IncidentChanged, PlanFinding

KIND = "suspected_injection"
MAX_EXCERPT = 160
MAX_FINDINGS = 10
MAX_TEXT = 20_000  # one string is scanned up to here: a megabyte of logs is not a regex workload
MAX_DEPTH = 6

_ACTIONS = "|".join(sorted(re.escape(k) for k in default_catalog().actions))
_QUALIFIER = (
    r"(?:all\s+(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|earlier)?"
    r"|previous|prior|above|earlier|your|any|these|those|the\s+(?:previous|prior|above|system))"
)
_INSTRUCTIONS = (
    r"(?:instructions?|prompts?|directives?|guidelines?|guardrails?|rules|runbooks?|constraints"
    r"|polic(?:y|ies)|system\s+prompt|context)"
)

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override_instructions",
        re.compile(
            rf"\b(?:ignore|disregard|forget|override|bypass|skip)\s+{_QUALIFIER}\s*(?:[a-z-]+\s+)?{_INSTRUCTIONS}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "new_instructions",
        re.compile(
            r"\b(?:new|updated|real|actual)\s+instructions?\s*:"
            r"|\byour\s+(?:new\s+)?(?:task|instructions?|job)\s+(?:is|are)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "role_marker",
        re.compile(
            r"<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id)\|>|\[/?INST\]|<</?SYS>>"
            # A speaker label followed by an instruction; "user: alice logged in" is a log line.
            r"|\b(?:system|assistant|developer|user)\s*:\s*(?:\S+\s+){0,6}?"
            r"(?:ignore|disregard|you\s+(?:are|must|should|will)|your\s+(?:task|job|instructions)|approve|execute|"
            r"(?:now\s+)?run\s+\w+_\w+|call\s+the\b|do\s+not\s+(?:ask|escalate|wait))",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        "role_change",
        re.compile(
            r"\byou\s+are\s+(?:now\s+)?(?:in\s+)?(?:maintenance|admin(?:istrator)?|developer|debug|god|unrestricted|jailbreak)\s+mode\b"
            r"|\byou\s+are\s+now\s+(?:a|an|the)\b|\bact\s+as\s+(?:a|an|the)\s+(?:system|admin|administrator|root)\b"
            r"|\bpretend\s+(?:to\s+be|you\s+are)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "self_approval",
        re.compile(
            r"\bapprove\s+(?:it\s+|this\s+|the\s+action\s+)?(?:yourself|itself|automatically)\b"
            r"|\b(?:auto-?approve|self-?approve)\b"
            r"|\bwithout\s+(?:any\s+)?(?:human\s+)?(?:approval|review|confirmation|asking)\b"
            r"|\b(?:already|pre-?)\s*approved\s+by\b|\b(?:was|has\s+been|is)\s+approved\s+by\s+(?:the\s+)?(?:cto|ceo|ciso|management|security|admin)",
            re.IGNORECASE,
        ),
    ),
    (
        "action_command",
        re.compile(
            rf"\b(?:run|execute|perform|trigger|call|invoke|do|propose|apply)\s+(?:a\s+|an\s+|the\s+)?(?:{_ACTIONS})\b"
            rf"|\b(?:{_ACTIONS})\s+(?:now|immediately|on\s+\S+\s+now)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "fake_tool_call",
        re.compile(
            r"\"(?:tool_calls|function_call|tool_call)\"\s*:|<\s*/?\s*(?:tool_call|function_call|function=)"
            r"|\{\s*\"(?:name|tool|function)\"\s*:\s*\"[a-z_]+\"\s*,\s*\"(?:arguments|parameters|args)\"\s*:"
            rf"|\"kind\"\s*:\s*\"(?:{_ACTIONS})\"",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class Suspicion:
    source: str
    rule: str
    excerpt: str

    def finding(self) -> PlanFinding:
        return PlanFinding(kind=KIND, source=self.source, rule=self.rule, excerpt=self.excerpt)


def scan_text(text: str, source: str) -> list[Suspicion]:
    """Every rule that matches `text`, one suspicion per rule, with the matching excerpt."""
    sample = text[:MAX_TEXT]
    out = []
    for name, pattern in RULES:
        match = pattern.search(sample)
        if match:
            out.append(Suspicion(source, name, _excerpt(sample, match.start(), match.end())))
    return out


def scan_incident(incident: IncidentChanged) -> list[Suspicion]:
    """The incident's alert-supplied text: title, service and resource as sent, the alerts' free text."""
    extra = incident.model_extra or {}
    texts: list[tuple[str, Any]] = [
        ("alert.title", incident.title),
        ("alert.service", incident.service),
        ("alert.resource_id", incident.resource_id),
        ("alert.text", incident.alert_text),
        ("alert.description", extra.get("description")),
    ]
    return _dedupe(s for source, value in texts for text in _strings(value) for s in scan_text(text, source))


def scan_evidence(evidence: Iterable[Evidence]) -> list[Suspicion]:
    """Every string inside every tool answer (log lines, version labels, owners, error texts)."""
    found: list[Suspicion] = []
    for item in evidence:
        target = item.params.get("name") or item.params.get("action_id") or ""
        source = f"{item.tool}({target})" if target else item.tool
        found += [s for text in _strings(item.result) for s in scan_text(text, source)]
    return _dedupe(found)


def findings(incident: IncidentChanged, evidence: Iterable[Evidence]) -> list[PlanFinding]:
    suspicions = _dedupe([*scan_incident(incident), *scan_evidence(evidence)])
    return [s.finding() for s in suspicions[:MAX_FINDINGS]]


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)


def _excerpt(text: str, start: int, end: int) -> str:
    lo, hi = max(0, start - 40), min(len(text), end + 60)
    snippet = " ".join(text[lo:hi].split())
    return snippet[:MAX_EXCERPT]


def _dedupe(items: Iterable[Suspicion]) -> list[Suspicion]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        key = (item.source, item.rule)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
