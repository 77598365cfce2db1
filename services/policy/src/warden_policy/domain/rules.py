"""The gate's rules behind a port, so a policy-as-code engine can replace them without touching
handlers or the approval workflow. Tier always comes from the catalog, never from the proposal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from warden_contracts.catalog import Catalog
from warden_contracts.events import DecisionOutcome, ProposedAction

from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.model import AccessLevel, Controls, RunMode

UNKNOWN_TIER = -1
HUMAN_ONLY_TIER = 3
MAX_AUTONOMOUS_TIER = 1


@dataclass(frozen=True)
class DecisionRequest:
    incident_id: str
    incident_class: str
    environment: str
    action: ProposedAction
    controls: Controls
    # Action id currently holding the target, if any.
    target_held_by: str | None = None


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


class RulesEngine(Protocol):
    def decide(self, request: DecisionRequest) -> Decision: ...


class PythonRules:
    """Foundation rules in plain Python; every reason names the rule that fired."""

    def __init__(self, catalog: Catalog, plans: ResponsePlans) -> None:
        self._catalog = catalog
        self._plans = plans

    def decide(self, request: DecisionRequest) -> Decision:
        action = request.action
        plan = self._plans.select(request.incident_class, request.environment)
        run_mode = plan.run_mode if plan else self._plans.agent.default_run_mode
        timeout = (
            plan.approval_timeout_s if plan and plan.approval_timeout_s else None
        ) or self._plans.agent.approval_timeout_s
        mode_reason = (
            f"response_plan: {plan.name} sets {run_mode.value}" if plan else f"agent_default: run mode {run_mode.value}"
        )

        def decision(outcome: DecisionOutcome, tier: int, *reasons: str, defect: bool = False) -> Decision:
            return Decision(outcome, tier, run_mode, timeout, [*reasons, mode_reason], defect)

        spec = self._catalog.get(action.kind)
        if spec is None:
            return decision(
                DecisionOutcome.REFUSED, UNKNOWN_TIER, f"catalog: kind {action.kind!r} not in catalog", defect=True
            )
        problems = self._catalog.check(action.kind, action.target, action.params)
        if problems:
            return decision(DecisionOutcome.REFUSED, spec.tier, *(f"catalog: {p}" for p in problems), defect=True)
        tier = spec.tier
        tier_reason = f"tier: catalog tier {tier} for {action.kind}"
        if request.controls.kill_switch:
            return decision(DecisionOutcome.REFUSED, tier, "kill_switch: on, no action may run", tier_reason)
        if request.controls.access_level is AccessLevel.READER:
            return decision(DecisionOutcome.REFUSED, tier, "access_level: reader, no writes allowed", tier_reason)
        if tier >= HUMAN_ONLY_TIER:
            return decision(DecisionOutcome.HANDOFF, tier, f"tier: tier {tier} is human-only, handed off")
        if request.target_held_by is not None and request.target_held_by != action.action_id:
            return decision(
                DecisionOutcome.REFUSED,
                tier,
                f"target_busy: {action.target} target busy with action {request.target_held_by}",
                tier_reason,
            )
        if run_mode is RunMode.AUTONOMOUS and tier <= MAX_AUTONOMOUS_TIER:
            return decision(
                DecisionOutcome.EXECUTE,
                tier,
                tier_reason,
                f"run_mode: autonomous allows tier <= {MAX_AUTONOMOUS_TIER} without approval",
            )
        why = (
            "run_mode: review requires approval"
            if run_mode is RunMode.REVIEW
            else f"tier: tier {tier} always requires approval"
        )
        return decision(DecisionOutcome.AWAIT_APPROVAL, tier, tier_reason, why)
