"""The autonomy promotion bar: when a plan may move up shadow -> review -> autonomous.

Policy owns the bar because policy is what honours run-mode controls: an operator tool that skips
the check (or a forged control from the operator identity) must not be able to make the agent act
alone. Promotion is one step at a time, and needs the audit evidence to meet the bar, or an
explicit `forced` with a reason, which is recorded. Demotion is always allowed, because making the
agent do less is always safe.
"""

from __future__ import annotations

from collections.abc import Mapping

from warden_contracts.events import ControlKind, PromotionEvidence

from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.model import GLOBAL_SCOPE, RunMode

LADDER: tuple[RunMode, ...] = (RunMode.SHADOW, RunMode.REVIEW, RunMode.AUTONOMOUS)
MIN_EVIDENCE = 3  # shadow decisions (for review) or incidents (for autonomous) before a promotion
MAX_DIFFERENT_SHARE = 0.2


class PromotionRefused(ValueError):
    """A run-mode change the bar does not allow; the message says why."""


def promotion_gap(evidence: PromotionEvidence, target: RunMode) -> str | None:
    """Why the evidence does not (yet) support `target`; None when it does."""
    if target is RunMode.REVIEW:
        decided = evidence.shadow_same + evidence.shadow_different + evidence.shadow_none
        if decided < MIN_EVIDENCE:
            return f"only {decided} shadow decision(s) recorded; {MIN_EVIDENCE} needed"
        if evidence.shadow_different / decided > MAX_DIFFERENT_SHARE:
            return f"humans did something different in {evidence.shadow_different} of {decided} shadowed cases"
        return None
    if evidence.incidents < MIN_EVIDENCE:
        return f"only {evidence.incidents} incident(s) under this plan; {MIN_EVIDENCE} needed"
    for label, value in (
        ("false remediation rate", evidence.false_remediation_rate),
        ("human override rate", evidence.human_override_rate),
    ):
        # None: nothing of the kind happened yet (no remediation to judge), which is no objection.
        if value:
            return f"{label} is {value:.0%}; it must be 0%"
    return None


def check_run_mode_change(
    current: RunMode,
    target: RunMode,
    evidence: PromotionEvidence | None,
    *,
    forced: bool,
    reason: str,
) -> None:
    """Raises PromotionRefused unless moving `current` -> `target` is allowed."""
    if current not in LADDER or target not in LADDER:
        raise PromotionRefused(f"run mode must be one of {', '.join(m.value for m in LADDER)}")
    step = LADDER.index(target) - LADDER.index(current)
    if step <= 0:
        return
    if step > 1:
        skipped = LADDER[LADDER.index(current) + 1].value
        raise PromotionRefused(f"{current.value} -> {target.value} skips {skipped}: promote one step at a time")
    if forced:
        if not reason.strip():
            raise PromotionRefused(f"a forced promotion to {target.value} needs a reason")
        return
    if evidence is None:
        raise PromotionRefused(f"a promotion to {target.value} must carry its evidence (or be forced with a reason)")
    gap = promotion_gap(evidence, target)
    if gap:
        raise PromotionRefused(f"not promoting to {target.value}: {gap}")


def current_run_mode(plans: ResponsePlans, stored: Mapping[tuple[str, str], str], scope: str) -> RunMode:
    """The mode a `plan:<name>` / `task:<name>` scope runs in now: the operator's last control, else
    the configured plan or task, else the agent default (itself possibly set at run time)."""
    operator = stored.get((ControlKind.PLAN_RUN_MODE.value, scope))
    if operator:
        return RunMode(operator)
    agent_default = stored.get((ControlKind.MODE.value, GLOBAL_SCOPE))
    default = RunMode(agent_default) if agent_default else plans.agent.default_run_mode
    kind, _, name = scope.partition(":")
    if kind == "task":
        task = plans.task(name)
        return task.mode(default) if task else default
    plan = next((p for p in plans.response_plans if p.name == name), None)
    return plan.run_mode if plan else default
