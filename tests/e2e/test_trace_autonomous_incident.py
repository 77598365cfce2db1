"""The demo's incidents, traced: every service exports its spans as OTLP-JSON to one file
(WARDEN_TRACE_FILE) and the whole incident — webhook to verified restart and the audit record of
each step — is one span tree under one trace id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from warden_bus.trace_sdk import read_trace_file
from warden_cli.demo import autonomous_scenario, review_scenario
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout

pytestmark = pytest.mark.e2e

Span = dict[str, Any]


def attr(span: Span, key: str) -> str | None:
    for item in span.get("attributes", []):
        if item["key"] == key:
            return str(next(iter(item["value"].values())))
    return None


def ancestry(span: Span, by_id: dict[str, Span]) -> list[Span]:
    chain = [span]
    while chain[-1].get("parentSpanId"):
        parent = by_id.get(chain[-1]["parentSpanId"])
        assert parent is not None, f"{chain[-1]['name']} has a parent that was never exported"
        chain.append(parent)
    return chain


async def test_autonomous_incident_is_one_span_tree(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "stack")
    trace_file = tmp_path / "traces.jsonl"
    stack = EmbeddedStack(layout, StackOptions(tick_s=1.0, trace_file=trace_file))
    lines: list[str] = []
    try:
        await stack.start()
        outcome = await autonomous_scenario(layout, lines.append, 90)
        # The Review incident too: its approval comes from the CLI, which carries no trace context.
        review = await review_scenario(layout, lines.append, 90)
    finally:
        await stack.stop()  # SIGTERM: every service flushes its exporter on the way out
    assert outcome.ok and review.ok, "\n".join(lines)
    incident_id = outcome.incident.incident_id

    spans = read_trace_file(trace_file)
    of_incident = [s for s in spans if attr(s, "warden.correlationid") == incident_id]
    traces = {s["traceId"] for s in of_incident}
    assert len(traces) == 1, f"incident {incident_id} spread over {len(traces)} traces"
    trace_id = traces.pop()
    tree = [s for s in spans if s["traceId"] == trace_id]
    by_id = {s["spanId"]: s for s in tree}
    hops = {(s["service"], s["name"]) for s in tree}

    # Every hop of the autonomous path, in the service that handled it.
    expected = {
        ("warden-triage", "POST /webhooks/azure-monitor"),
        ("warden-triage", "send sre.alert.received.v1"),
        ("warden-triage", "sre.alert.received.v1"),
        ("warden-triage", "send sre.incident.changed.v1"),
        ("warden-planner", "sre.incident.changed.v1"),
        ("warden-policy", "sre.incident.changed.v1"),
        ("warden-planner", "send sre.plan.proposed.v1"),
        ("warden-policy", "sre.plan.proposed.v1"),
        ("warden-policy", "send sre.policy.decided.v1"),
        ("warden-policy", "send sre.action.approved.v1"),
        ("warden-policy", "send sre.action.pending.v1"),
        ("warden-executor", "sre.action.pending.v1"),
        ("warden-executor", "sre.action.approved.v1"),
        ("warden-executor", "send sre.action.reported.v1"),
        ("warden-planner", "sre.action.reported.v1"),
        ("warden-policy", "sre.action.reported.v1"),
        ("warden-audit", "sre.action.reported.v1"),
        ("warden-audit", "sre.elevation.changed.v1"),
        ("warden-audit", "send sre.audit.recorded.v1"),
    }
    assert expected <= hops, f"missing hops: {sorted(expected - hops)}"
    # Inside the hops: the planner's read-only tool calls, the policy evaluation, the elevation and
    # the action itself, each under the message that caused it.
    inner = {
        ("warden-planner", "tool.get_service"),
        ("warden-policy", "policy.evaluate"),
        ("warden-executor", "elevation.activate"),
        ("warden-executor", "action.act"),
    }
    assert inner <= hops, f"missing inner spans: {sorted(inner - hops)}"

    # One tree: a single root (the webhook call that brought the first alert), every span reaches it.
    roots = [s for s in tree if not s.get("parentSpanId")]
    assert [(r["service"], r["name"]) for r in roots] == [("warden-triage", "POST /webhooks/azure-monitor")]
    for span in tree:
        assert ancestry(span, by_id)[-1] is roots[0]

    # The causal path of the verified restart runs through every service, in order.
    verified = [s for s in tree if s["name"] == "send sre.action.reported.v1" and s["service"] == "warden-executor"]
    assert verified
    path = [(s["service"], s["name"]) for s in reversed(ancestry(verified[-1], by_id))]
    assert path[0] == ("warden-triage", "POST /webhooks/azure-monitor")
    consumed = [hop for hop in path if hop[1].startswith("sre.")]
    assert consumed == [
        ("warden-triage", "sre.alert.received.v1"),
        ("warden-planner", "sre.incident.changed.v1"),
        ("warden-policy", "sre.plan.proposed.v1"),
        ("warden-executor", "sre.action.approved.v1"),
    ]

    # The human's approval joined the Review incident's trace (policy parents it on the incident).
    reviewed = [s for s in spans if attr(s, "warden.correlationid") == review.incident.incident_id]
    assert len({s["traceId"] for s in reviewed}) == 1
    review_hops = {(s["service"], s["name"]) for s in reviewed}
    assert {
        ("warden-policy", "sre.approval.decided.v1"),
        ("warden-executor", "sre.action.approved.v1"),
        ("warden-planner", "sre.action.reported.v1"),
    } <= review_hops
