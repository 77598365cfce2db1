"""The gate's decision behind a port: catalog checks and run-mode selection in Python, every
allow/forbid rule in the policy language. Tier always comes from the catalog, never the proposal."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from warden_contracts.catalog import Catalog
from warden_contracts.events import DecisionOutcome, PlanProposed, ProposedAction

from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.evaluation import (
    AGENT,
    EXECUTE,
    HANDOFF,
    REQUEST_APPROVAL,
    PolicyEvaluator,
    Principal,
    Question,
    TargetRef,
    Verdict,
)
from warden_policy.domain.model import Controls, RunMode

UNKNOWN_TIER = -1
SUSPECTED_INJECTION = "suspected_injection"


def suspected_injection(plan: PlanProposed) -> bool:
    return any(f.kind == SUSPECTED_INJECTION for f in plan.findings)


@dataclass(frozen=True)
class Counts:
    """Actions released recently: the blast-radius facts."""

    on_target_last_hour: int = 0
    for_incident: int = 0
    last_hour: int = 0


@dataclass(frozen=True)
class DecisionRequest:
    incident_id: str
    incident_class: str
    environment: str
    action: ProposedAction
    controls: Controls
    now: datetime
    resource_group: str | None = None
    scheduled_task: str | None = None
    requested_by: str = "warden-planner"
    # Action id currently holding the target, if any.
    target_held_by: str | None = None
    # The holder's incident and its action hash (awaiting approval or released).
    target_held_for: str | None = None
    target_held_hash: str = ""
    counts: Counts = Counts()
    # The plan carries a suspected_injection finding: only ever makes the decision stricter.
    suspected_injection: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: DecisionOutcome
    tier: int
    run_mode: RunMode
    approval_timeout_s: int
    reasons: list[str] = field(default_factory=list)
    # Refused because the proposal itself is defective (unknown kind, bad params, denied target):
    # a lower-ranked alternative of the same plan may still be considered.
    proposal_defect: bool = False
    plan: str = ""


class RulesEngine(Protocol):
    def decide(self, request: DecisionRequest) -> Decision: ...


@dataclass(frozen=True)
class ModeChoice:
    plan: str
    mode: RunMode
    timeout_s: int
    reasons: tuple[str, ...]
    read_only_task: bool = False
    # The mode the policy evaluates: in shadow, what the plan would otherwise do; a plan that is
    # itself in shadow is evaluated as Autonomous (what the agent would do alone).
    evaluate_as: RunMode = RunMode.REVIEW


def choose_mode(plans: ResponsePlans, request: DecisionRequest) -> ModeChoice:
    """Scheduled task, else response plan, else agent default; then run-time overrides."""
    agent_mode = request.controls.default_run_mode or plans.agent.default_run_mode
    timeout = plans.agent.approval_timeout_s
    task = plans.task(request.scheduled_task) if request.scheduled_task else None
    plan = plans.select(request.incident_class, request.environment, request.action.target) if task is None else None
    if task is not None:
        choice = ModeChoice(
            f"task:{task.name}",
            task.mode(agent_mode),
            task.approval_timeout_s or timeout,
            (f"scheduled_task: {task.name} sets {task.mode(agent_mode).value}",),
            task.read_only,
        )
    elif plan is not None:
        choice = ModeChoice(
            plan.name,
            plan.run_mode,
            plan.approval_timeout_s or timeout,
            (f"response_plan: {plan.name} sets {plan.run_mode.value}",),
        )
    else:
        unknown = f" (unknown scheduled task {request.scheduled_task!r})" if request.scheduled_task else ""
        choice = ModeChoice("", agent_mode, timeout, (f"agent_default: run mode {agent_mode.value}{unknown}",))
    overrides: list[str] = []
    mode = choice.mode
    scope = choice.plan if choice.plan.startswith("task:") else f"plan:{choice.plan}" if choice.plan else ""
    operator_mode = request.controls.run_mode_for(scope)
    if operator_mode is not None:
        mode = operator_mode
        overrides.append(f"plan_run_mode: operator set {mode.value} for {scope}")
    evaluate_as = RunMode.AUTONOMOUS if mode is RunMode.SHADOW else mode
    if request.controls.shadowed(scope) and mode is not RunMode.SHADOW:
        mode = RunMode.SHADOW
        where = scope if scope and scope in request.controls.shadow_scopes else "everything"
        overrides.append(f"shadow: shadow mode is on for {where}")
    return replace(choice, mode=mode, reasons=(*choice.reasons, *overrides), evaluate_as=evaluate_as)


def _rule_reasons(verdict: Verdict, *, outcome: str | None = None) -> list[str]:
    rules = [r for r in verdict.rules if outcome is None or r.outcome == outcome]
    return [r.describe() for r in rules] + [f"policy_error: {e}" for e in verdict.errors]


class GateRules:
    """The RulesEngine of the gate: asks the policy `execute?` and `request_approval?` and
    combines the answers. Anything the policy cannot answer cleanly ends in a refusal."""

    def __init__(self, catalog: Catalog, plans: ResponsePlans, policy: PolicyEvaluator) -> None:
        self._catalog = catalog
        self._plans = plans
        self._policy = policy

    def decide(self, request: DecisionRequest) -> Decision:
        action = request.action
        choice = choose_mode(self._plans, request)

        def decision(outcome: DecisionOutcome, tier: int, reasons: list[str], defect: bool = False) -> Decision:
            return Decision(
                outcome, tier, choice.mode, choice.timeout_s, [*reasons, *choice.reasons], defect, choice.plan
            )

        spec = self._catalog.get(action.kind)
        if spec is None:
            return decision(
                DecisionOutcome.REFUSED, UNKNOWN_TIER, [f"catalog: kind {action.kind!r} not in catalog"], True
            )
        problems = self._catalog.check(action.kind, action.target, action.params)
        if problems:
            return decision(DecisionOutcome.REFUSED, spec.tier, [f"catalog: {p}" for p in problems], True)
        tier_reason = f"tier: catalog tier {spec.tier} for {action.kind}"
        outcome, reasons = self.gate(self.questions(request, spec.tier, choice.evaluate_as, choice))
        if choice.mode is RunMode.SHADOW:
            return decision(
                DecisionOutcome.SHADOWED, spec.tier, [f"shadow: would have {outcome.value}", *reasons, tier_reason]
            )
        return decision(outcome, spec.tier, [*reasons, tier_reason])

    def questions(self, request: DecisionRequest, tier: int, mode: RunMode, choice: ModeChoice) -> list[Question]:
        c = request.controls
        facts = {
            "kind": request.action.kind,
            "tier": tier,
            "run_mode": mode.value,
            "plan": choice.plan,
            "scheduled_task": request.scheduled_task or "",
            "read_only_task": choice.read_only_task,
            "incident_class": request.incident_class,
            "access_level": c.access_level.value,
            "kill_switch": c.kill_switch,
            "advisory": c.advisory,
            "frozen": c.frozen,
            "in_change_window": self._plans.in_change_window(request.environment, request.now),
            "incident_owned": c.incident_owner is not None,
            "suspected_injection": request.suspected_injection,
            "target_busy": request.target_held_by not in (None, request.action.action_id),
            "actions_on_target_last_hour": request.counts.on_target_last_hour,
            "actions_for_incident": request.counts.for_incident,
            "actions_last_hour": request.counts.last_hour,
        }
        principal = Principal(AGENT, request.requested_by)
        target = TargetRef(request.action.target, request.environment, request.resource_group or "")
        return [Question(EXECUTE, principal, target, facts), Question(REQUEST_APPROVAL, principal, target, facts)]

    def gate(self, questions: list[Question]) -> tuple[DecisionOutcome, list[str]]:
        """Execute if allowed, else ask if allowed, else hand off when only hand-off rules forbid."""
        execute, ask = self._policy.evaluate(questions)
        if ask.errors or execute.errors:  # fail closed: a rule that could not run might have forbidden it
            return DecisionOutcome.REFUSED, _rule_reasons(ask) + _rule_reasons(execute)
        if execute.safe_allowed and ask.safe_allowed:
            return DecisionOutcome.EXECUTE, _rule_reasons(execute)
        if ask.safe_allowed:
            why = _rule_reasons(execute) or ["review: no policy lets this run without approval"]
            return DecisionOutcome.AWAIT_APPROVAL, [*why, *_rule_reasons(ask)]
        forbids = list(ask.rules)
        if forbids and all(r.outcome == HANDOFF for r in forbids):
            return DecisionOutcome.HANDOFF, _rule_reasons(ask)
        return DecisionOutcome.REFUSED, _rule_reasons(ask) or ["no policy permits this action"]
