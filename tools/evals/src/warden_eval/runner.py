"""Runs scenarios end to end through one embedded stack, resetting the sandbox between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from warden_audit.reader import read_records
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.operations import OperationError, decide, set_control
from warden_cli.timeline import incidents_from
from warden_contracts.catalog import default_catalog
from warden_contracts.events import ApprovalDecision, ControlKind
from warden_testkit.planner import ChatDouble

from warden_eval.eval_policy import write_eval_policy
from warden_eval.isolation import isolated
from warden_eval.observed import Observed
from warden_eval.scenario import AlertStep, FaultStep, Scenario, load_scenarios
from warden_eval.scoring import Outcome, Scorecard, describe, score
from warden_eval.surfaces import Surfaces
from warden_eval.triage_catalog import write_eval_catalog

PlannerKind = Literal["runbook", "llm"]
Say = Callable[[str], None]
POLL_S = 0.4
GRACE_S = 1.5  # after expectations are met: catch anything that follows (an unsafe retry, say)
QUIET_S = 6.0  # after a terminal event with expectations unmet: nothing more is coming
SETTLE_S = 20.0  # between scenarios: wait this long at most for open incidents to close


@dataclass
class EvalOptions:
    planner: PlannerKind = "runbook"
    tick_s: float = 0.25
    approval_timeout_s: int = 20
    llm_max_seconds: float = 20.0
    health_timeout_s: float = 240.0


@dataclass
class _Approvals:
    decision: str
    approvers: list[str]
    signed: dict[str, int] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # when each request was first seen pending


async def run_eval(scenarios: list[Scenario], layout: Layout, say: Say, options: EvalOptions) -> Scorecard:
    double = ChatDouble() if options.planner == "llm" else None
    env: dict[str, str] = {"WARDEN_PLANNER_KIND": options.planner}
    if double is not None:
        env |= {
            "WARDEN_LLM_BASE_URL": await double.start(),
            "WARDEN_LLM_MODEL": "scripted-double",
            "WARDEN_LLM_MAX_SECONDS": str(options.llm_max_seconds),
        }
    runs = [isolated(s.for_planner(options.planner), f"-s{n:02d}")[0] for n, s in enumerate(scenarios, 1)]
    catalog = write_eval_catalog(layout.root / "eval" / "service-catalog.yaml", (r.world or {} for r in runs))
    stack = EmbeddedStack(
        layout,
        StackOptions(
            tick_s=options.tick_s,
            approval_timeout_s=options.approval_timeout_s,
            log_level="WARNING",
            extra_env={
                "planner": env,
                "triage": {"WARDEN_SERVICE_CATALOG": str(catalog)},
                "policy": {"WARDEN_POLICY_DIR": str(write_eval_policy(layout.root / "eval" / "policy"))},
            },
            health_timeout_s=options.health_timeout_s,
        ),
    )
    outcomes: list[Outcome] = []
    try:
        started = time.monotonic()
        await stack.start()
        say(f"stack up in {time.monotonic() - started:.1f}s ({options.planner} planner); {len(scenarios)} scenarios")
        async with Surfaces(layout) as surfaces:
            for own in runs:
                outcome = await run_scenario(own, layout, surfaces, double)
                outcomes.append(outcome)
                say(describe(outcome))
    finally:
        await stack.stop()
        if double is not None:
            await double.stop()
    return Scorecard(options.planner, outcomes)


async def run_scenario(scenario: Scenario, layout: Layout, surfaces: Surfaces, double: ChatDouble | None) -> Outcome:
    await surfaces.reset(scenario.world)
    await _settle(layout)
    if double is not None:
        double.scripts = {scenario.expect.service: scenario.llm}
    for control in scenario.controls:
        await set_control(layout, ControlKind(control.kind), control.value, "eval", f"scenario {scenario.name}")
    start = datetime.now(UTC)
    steps = asyncio.create_task(_play(scenario, surfaces))
    try:
        observed = await _watch(scenario, layout, start, steps)
    finally:
        if not steps.done():
            steps.cancel()
        for control in scenario.controls:
            await set_control(layout, ControlKind(control.kind), control.restore, "eval", "scenario over")
        await surfaces.resolve_fired()
    if steps.done() and not steps.cancelled() and steps.exception() is not None:
        outcome = Outcome(scenario.name)
        outcome.problems.append(f"scenario steps failed: {steps.exception()}")
        return outcome
    return score(scenario, observed, start, default_catalog())


async def _play(scenario: Scenario, surfaces: Surfaces) -> None:
    began = time.monotonic()
    timed: list[tuple[float, int, FaultStep | AlertStep]] = [(f.at, 0, f) for f in scenario.faults]
    timed += [(a.at, 1, a) for a in scenario.alerts]
    for at, _, step in sorted(timed, key=lambda t: (t[0], t[1])):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
        if isinstance(step, FaultStep):
            await surfaces.inject(step.service, step.kind, step.params, step.log_text)
        else:
            for _ in range(step.repeat):
                await surfaces.fire(step)


async def _watch(scenario: Scenario, layout: Layout, start: datetime, steps: asyncio.Task[None]) -> Observed:
    expect = scenario.expect
    approvals = _Approvals(scenario.approver.decision, scenario.approver.approvers)
    deadline = time.monotonic() + expect.timeout_s
    met_at: float | None = None
    last_count, last_change = 0, time.monotonic()
    while True:
        records = await asyncio.to_thread(lambda: list(read_records(layout.audit_dir)))
        observed = Observed.since(records, start, expect.service, expect.incident_class)
        now = time.monotonic()
        if len(observed.records) != last_count:
            last_count, last_change = len(observed.records), now
        await _approve(scenario, layout, observed, approvals)
        if steps.done() and steps.exception() is not None:
            return observed
        primary = observed.primary()
        if primary is not None and steps.done():
            incident_id = primary["incident_id"]
            if _met(scenario, observed, incident_id):
                met_at = met_at or now
                if now - met_at >= GRACE_S:
                    return observed
            elif observed.terminal(incident_id) and now - last_change >= QUIET_S:
                return observed
        if now >= deadline:
            return observed
        await asyncio.sleep(POLL_S)


def _met(scenario: Scenario, observed: Observed, incident_id: str) -> bool:
    expect = scenario.expect
    if expect.escalation and not observed.data("sre.escalation.raised.v1", incident_id):
        return False
    if expect.executed:
        return any(
            a["statuses"][-1] in ("verified", "rolled_back", "failed") and scenario.acceptable(a["kind"], a["target"])
            for a in observed.executed()
        )
    if not expect.escalation:
        return any(d.get("outcome") == "denied" for d in observed.data("sre.policy.decided.v1", incident_id))
    return True


async def _approve(scenario: Scenario, layout: Layout, observed: Observed, state: _Approvals) -> None:
    if state.decision == "ignore" or (scenario.approver.wait_for_gate and not _gated(observed)):
        return
    now = time.monotonic()
    for request in observed.pending_approvals():
        approval_id = request["approval_id"]
        index = state.signed.get(approval_id, 0)
        # M-of-N: the next approver signs when the request is still pending a moment later.
        if index >= len(state.approvers) or now - state.last.get(approval_id, -1e9) < 1.5:
            continue
        if now - state.seen.setdefault(approval_id, now) < scenario.approver.delay_s:
            continue
        decision = ApprovalDecision.APPROVE if state.decision == "approve" else ApprovalDecision.DENY
        state.signed[approval_id], state.last[approval_id] = index + 1, now
        try:
            await decide(layout, approval_id, decision, state.approvers[index], f"eval: {scenario.name}")
        except OperationError:
            continue  # an approver the policy refuses simply did not help; the next one tries


def _gated(observed: Observed) -> bool:
    incident = observed.under_test()
    return incident is not None and observed.gated(incident["incident_id"])


async def _settle(layout: Layout) -> None:
    """Wait (bounded) until no incident is open, so scenarios do not bleed into each other."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        records = await asyncio.to_thread(lambda: list(read_records(layout.audit_dir)))
        if all(view.state == "resolved" for view in incidents_from(records).values()):
            return
        await asyncio.sleep(POLL_S)


def load_and_run(directory: Path, layout: Layout, say: Say, options: EvalOptions, only: str | None) -> Scorecard:
    scenarios = load_scenarios(directory, only)
    return asyncio.run(run_eval(scenarios, layout, say, options))
