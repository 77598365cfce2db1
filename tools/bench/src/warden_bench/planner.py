"""`warden bench planner`: planner time per incident, p50/p99, without LLM latency.

Each round plans one incident of a rotating class (memory leak, bad deploy, backlog, certificate,
disk, security, unknown) over an in-memory Observer, and builds the outgoing PlanProposed /
EscalationRaised envelope:

- `runbook`: the deterministic runbook planner (investigate, vet against the catalog, message);
- `llm`    : the bounded ReAct loop with an in-process scripted model answering instantly (prompt,
             tool dispatch, untrusted wrapping, proposal validation, vetting, message) - everything
             but the model's own latency;
- baseline : the same Observer reads without any planning logic, measured in the same run.
Ratios are against the baseline's p50.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import envelope_for
from warden_contracts.events import IncidentChanged, IncidentState, Severity
from warden_planner.domain.findings import Finding
from warden_planner.domain.llm.react import LlmPlanner
from warden_planner.domain.messages import escalation_message, plan_message, ranked_actions
from warden_planner.domain.planner import Planner, RunbookPlanner
from warden_planner.domain.records import IncidentRecord
from warden_planner.domain.validation import vet
from warden_testkit.planner import InMemoryObserver, ScriptedChatModel, healthy_service

from warden_bench.stats import percentile

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
# class -> (fields over a healthy view, minutes since the latest deploy)
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "memory_pressure": ({"memory_pct": 92.0}, 3000),
    "elevated_error_rate": ({"error_rate": 0.25}, 8),
    "queue_backlog": ({"queue_depth": 4200}, 3000),
    "certificate_expiry": ({"cert_days_left": 5}, 3000),
    "disk_pressure": ({"disk_pct": 95.0}, 3000),
    "security_alert": ({}, 3000),
    "unknown": ({}, 3000),
}


def _world(names: dict[str, str]) -> InMemoryObserver:
    """One estate holding a service per (class, slot); `names` maps service name -> class."""
    services, deployments, logs = {}, {}, {}
    for name, klass in names.items():
        services[name], deployments[name], logs[name] = _service(klass, name)
    return InMemoryObserver(services, deployments, logs)


def _service(klass: str, name: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    fields, age = CASES[klass]
    view = healthy_service(name, owner="team-bench", **fields)
    deploys = [
        {"version": "v1.3.2", "at": (NOW - timedelta(days=20)).isoformat(), "by": "ci"},
        {"version": "v1.4.0", "at": (NOW - timedelta(minutes=age)).isoformat(), "by": "ci"},
    ]
    logs = [f"INFO line {i}" for i in range(30)]
    return view, deploys, logs


def _script(name: str) -> list[dict[str, Any]]:
    tools = ("get_service", "get_deployments", "get_logs", "get_dependencies", "get_owner")
    calls = [{"name": t, "arguments": {"name": name} | ({"limit": 20} if t == "get_logs" else {})} for t in tools]
    answer = {
        "runbook": "handoff@1",
        "summary": "benchmark: hand off with the evidence",
        "hypotheses": [{"statement": "benchmark", "verdict": "supported", "why": "fixed script"}],
        "handoff": "benchmark handoff",
    }
    return [{"call": calls[:2]}, {"call": calls[2:]}, {"answer": answer}]


def _incident(klass: str, name: str, n: int) -> IncidentChanged:
    return IncidentChanged(
        incident_id=f"inc-bench-{n}",
        change=IncidentState.OPENED,
        incident_class=klass,
        title=f"bench {klass}",
        service=name,
        resource_id=f"/r/{name}",
        environment="dev",
        severity=Severity.SEV2,
        fingerprint=f"fp-{n}",
        alert_count=1,
        opened_at=NOW,
    )


async def _plan_once(planner: Planner, incident: IncidentChanged) -> None:
    catalog = default_catalog()
    finding: Finding = await planner.investigate(incident)
    valid, dropped = vet(finding.candidates, catalog, finding.do_not_touch)
    record = IncidentRecord(
        incident_id=incident.incident_id,
        correlationid=incident.incident_id,
        incident_class=incident.incident_class,
        severity=incident.severity.value,
        environment=incident.environment,
        target=incident.service,
        runbook=finding.runbook,
        planner=finding.planner,
        hypotheses=[*finding.hypotheses, *dropped],
        candidates=valid,
        evidence=finding.evidence,
        trace=finding.trace,
        attempt=1,
    )
    cause = envelope_for("sre.incident.changed.v1", incident, source="bench", correlationid=incident.incident_id)
    if finding.handoff or not valid:
        escalation_message(cause, record, finding.handoff or finding.summary).model_dump_json()
    else:
        plan_message(cause, record, ranked_actions(record, catalog), finding.summary, advisory=False).model_dump_json()


async def _reads_only(observer: InMemoryObserver, name: str) -> None:
    await observer.get_service(name)
    await observer.get_deployments(name)
    await observer.get_logs(name, 20)
    await observer.get_dependencies(name)
    await observer.get_owner(name)


async def _measure(rounds: int, one: Callable[[int], Awaitable[None]]) -> list[float]:
    samples = []
    for n in range(rounds):
        began = time.perf_counter()
        await one(n)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def bench(rounds: int) -> dict[str, list[float]]:
    classes = list(CASES)
    catalog = default_catalog()
    names = {f"{klass.replace('_', '-')}-{slot}": klass for klass in classes for slot in range(8)}
    order = list(names)
    observer = _world(names)
    # Built once, as the service does: the system prompt and tool schemas are not per incident.
    runbooks = RunbookPlanner(observer, catalog, lambda: NOW)
    model = ScriptedChatModel({name: _script(name) for name in names}, name="bench-instant")
    llm_planner = LlmPlanner(model, observer, catalog, lambda: NOW, time.monotonic)

    def case(n: int) -> tuple[str, str]:
        name = order[(n * 7 + n // len(order)) % len(order)]
        return names[name], name

    async def baseline(n: int) -> None:
        await _reads_only(observer, case(n)[1])

    async def runbook(n: int) -> None:
        klass, name = case(n)
        await _plan_once(runbooks, _incident(klass, name, n))

    async def llm(n: int) -> None:
        klass, name = case(n)
        await _plan_once(llm_planner, _incident(klass, name, n))

    warmup = max(5, rounds // 20)
    for one in (baseline, runbook, llm):
        await _measure(warmup, one)
    return {
        "baseline": await _measure(rounds, baseline),
        "runbook": await _measure(rounds, runbook),
        "llm": await _measure(rounds, llm),
    }


def report(samples: dict[str, list[float]]) -> str:
    base = statistics.median(samples["baseline"])
    lines = [f"{'':<10}{'p50 ms':>10}{'p99 ms':>10}{'x baseline p50':>16}"]
    for label, values in samples.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        lines.append(f"{label:<10}{p50:>10.3f}{p99:>10.3f}{p50 / base:>16.1f}")
    return "\n".join(lines)


def run(
    rounds: Annotated[int, typer.Option(help="incidents planned per variant")] = 700,
) -> None:
    """Planner time per incident (p50/p99) without LLM latency, against a same-run baseline."""
    samples = asyncio.run(bench(rounds))
    typer.echo(f"planner time per incident, {rounds} incidents per variant, {len(CASES)} classes rotating")
    typer.echo(report(samples))
