"""The Sentinel ASIM parser (deploy/sentinel/ASimAuditEventWarden.kql) reads only fields Warden's
OCSF events really have: every source field path the KQL names is looked up in sample events built
from one record per topic, and the ASIM values it emits are ASIM's own vocabulary."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warden_audit.domain.attribution import attribute
from warden_audit.domain.chain import GENESIS_HASH, build_record
from warden_audit.domain.siem import siem_view

PARSER = Path(__file__).resolve().parents[4] / "deploy" / "sentinel" / "ASimAuditEventWarden.kql"
# KQL words and functions the parser uses, the function's parameter, and the table: not fields.
KQL_WORDS = {
    "let", "dynamic", "where", "not", "and", "or", "extend", "project", "case", "tostring", "toint", "tolong",
    "int", "iff", "coalesce", "unixtime_milliseconds_todatetime", "disabled",
}
ASIM_EVENT_TYPES = {"Set", "Read", "Create", "Delete", "Execute", "Install", "Clear", "Enable", "Disable", "Other"}
ASIM_RESULTS = {"Success", "Failure", "Partial", "NA"}
ASIM_OBJECT_TYPES = {"Configuration Atom", "Policy Rule", "Cloud Resource", "Service", "Directory Service Object",
                     "Other"}
SAMPLES: list[tuple[str, dict[str, Any], str]] = [
    ("sre.alert.received.v1", {"alert_id": "a1", "rule": "mem", "status": "Fired", "severity": "Sev2"}, "monitor"),
    ("sre.incident.changed.v1", {"incident_id": "i1", "change": "opened", "severity": "Sev1"}, "triage"),
    ("sre.plan.proposed.v1", {"incident_id": "i1", "plan_id": "p1", "runbook": "restart"}, "planner"),
    ("sre.approval.requested.v1", {"approval_id": "ap1", "tier": 2, "action": {"kind": "k", "target": "x"}}, "policy"),
    ("sre.approval.decided.v1", {"approval_id": "ap1", "decision": "approve", "identity_token": "t"}, "console"),
    ("sre.policy.decided.v1", {"action_id": "ac1", "outcome": "refused", "kind": "k", "target": "x"}, "policy"),
    ("sre.action.reported.v1", {"action_id": "ac1", "status": "rolled_back", "target": "x"}, "executor"),
    ("sre.control.changed.v1", {"kind": "kill_switch", "value": "on", "changed_by": "ops"}, "cli/ops"),
    ("sre.elevation.changed.v1", {"grant_id": "g1", "state": "deactivated", "principal": "executor"}, "elevation"),
    ("sre.deadletter.v1", {"service": "policy", "topic": "t", "reason": "schema", "original_id": "m0"}, "policy"),
]


def sample_events() -> list[dict[str, Any]]:
    events = []
    for seq, (topic, data, source) in enumerate(SAMPLES, start=1):
        envelope = {"id": f"m{seq}", "source": f"warden/{source}", "type": topic, "correlationid": "i1",
                    "time": "2026-11-21T09:59:59Z", "data": data}
        stored = build_record(seq, GENESIS_HASH, envelope, datetime(2026, 11, 21, 10, tzinfo=UTC),
                              {"actor": attribute(topic, envelope)})
        events.append(siem_view(stored)["ocsf"])
    return events


def kql_without_comments_and_strings() -> str:
    text = "\n".join(line.split("//", 1)[0] for line in PARSER.read_text().splitlines())
    return re.sub(r'"[^"]*"', '""', text)


def source_paths(kql: str) -> set[str]:
    """Lower-case dotted/indexed identifiers (ASIM's output columns are PascalCase), minus KQL words
    and anything called like a function."""
    found = set()
    for match in re.finditer(r"(?<![\w.])([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*)(\s*\()?",
                             kql):
        path, called = match.group(1), match.group(2)
        if called or path in KQL_WORDS:
            continue
        found.add(path)
    return found


def resolve(event: Any, path: str) -> bool:
    node = event
    for part in re.findall(r"[a-z_][a-z0-9_]*|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or len(node) <= index:
                return False
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_every_field_the_parser_reads_exists_in_warden_events() -> None:
    paths = source_paths(kql_without_comments_and_strings())
    assert {"class_uid", "time", "metadata.product.version", "actor.user.name", "resources[0].uid",
            "unmapped.warden.record_hash", "status_id", "severity_id", "activity_id"} <= paths
    events = sample_events()
    optional = {"status_detail", "resources[0].name"}  # present only when Warden has the value
    for path in sorted(paths):
        present = [resolve(e, path) for e in events]
        assert any(present), f"the parser reads {path!r}, which no Warden OCSF event has"
        assert all(present) or path in optional, f"{path!r} is missing from some events"


def test_the_parser_emits_asim_vocabulary() -> None:
    kql = PARSER.read_text()
    event_types = set(re.findall(r'activity_id == \d+, "(\w+)"', kql)) | {"Other"}
    assert event_types <= ASIM_EVENT_TYPES
    assert set(re.findall(r'status_id == \d+, "(\w+)"', kql)) | {"NA"} <= ASIM_RESULTS
    object_types = set(re.findall(r'"[a-z]+": "([A-Za-z ]+)"', kql)) | {"Other"}
    assert object_types <= ASIM_OBJECT_TYPES
    assert {e["activity_id"] for e in sample_events()} <= {0, 1, 2, 3, 4, 99}
