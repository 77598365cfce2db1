"""The autonomy promotion bar lives in policy's domain: policy refuses a run-mode promotion that
skips a step, carries no evidence, falls short of the bar, or is forced without a reason, whatever
tool sent it; demotion is always accepted."""

from __future__ import annotations

import pytest
from warden_bus.port import PoisonMessage
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind, PromotionEvidence
from warden_policy.domain.autonomy_bar import PromotionRefused, check_run_mode_change, promotion_gap
from warden_policy.domain.model import RunMode

CLEAN = PromotionEvidence(incidents=3, false_remediation_rate=0.0, human_override_rate=0.0)
AGREEING = PromotionEvidence(shadow_same=3)


@pytest.mark.parametrize(
    ("evidence", "target", "gap"),
    [
        (PromotionEvidence(shadow_same=2), RunMode.REVIEW, "only 2 shadow decision(s) recorded; 3 needed"),
        (
            PromotionEvidence(shadow_same=3, shadow_different=1),
            RunMode.REVIEW,
            "humans did something different in 1 of 4 shadowed cases",
        ),
        (AGREEING, RunMode.REVIEW, None),
        (PromotionEvidence(incidents=2), RunMode.AUTONOMOUS, "only 2 incident(s) under this plan; 3 needed"),
        (
            PromotionEvidence(incidents=4, false_remediation_rate=0.25, human_override_rate=0.0),
            RunMode.AUTONOMOUS,
            "false remediation rate is 25%; it must be 0%",
        ),
        (
            PromotionEvidence(incidents=4, false_remediation_rate=0.0, human_override_rate=0.5),
            RunMode.AUTONOMOUS,
            "human override rate is 50%; it must be 0%",
        ),
        (CLEAN, RunMode.AUTONOMOUS, None),
    ],
)
def test_bar_names_the_gap(evidence: PromotionEvidence, target: RunMode, gap: str | None) -> None:
    assert promotion_gap(evidence, target) == gap


@pytest.mark.parametrize(
    ("current", "target", "evidence", "forced", "reason", "refusal"),
    [
        (RunMode.SHADOW, RunMode.AUTONOMOUS, CLEAN, False, "", "skips review: promote one step at a time"),
        (RunMode.SHADOW, RunMode.AUTONOMOUS, CLEAN, True, "pilot", "skips review"),
        (RunMode.REVIEW, RunMode.AUTONOMOUS, None, False, "", "must carry its evidence"),
        (RunMode.REVIEW, RunMode.AUTONOMOUS, PromotionEvidence(incidents=1), False, "", r"only 1 incident\(s\)"),
        (RunMode.REVIEW, RunMode.AUTONOMOUS, None, True, "  ", "a forced promotion to autonomous needs a reason"),
    ],
)
def test_promotion_refused(
    current: RunMode, target: RunMode, evidence: PromotionEvidence | None, forced: bool, reason: str, refusal: str
) -> None:
    with pytest.raises(PromotionRefused, match=refusal):
        check_run_mode_change(current, target, evidence, forced=forced, reason=reason)


@pytest.mark.parametrize(
    ("current", "target", "evidence", "forced", "reason"),
    [
        (RunMode.SHADOW, RunMode.REVIEW, AGREEING, False, ""),
        (RunMode.REVIEW, RunMode.AUTONOMOUS, CLEAN, False, ""),
        (RunMode.REVIEW, RunMode.AUTONOMOUS, None, True, "change board approved the pilot"),
        (RunMode.AUTONOMOUS, RunMode.SHADOW, None, False, ""),  # doing less is always safe
        (RunMode.REVIEW, RunMode.REVIEW, None, False, ""),
    ],
)
def test_change_allowed(
    current: RunMode, target: RunMode, evidence: PromotionEvidence | None, forced: bool, reason: str
) -> None:
    check_run_mode_change(current, target, evidence, forced=forced, reason=reason)


def _control(value: str, scope: str, **extra: object) -> object:
    change = ControlChanged(kind=ControlKind.PLAN_RUN_MODE, value=value, scope=scope, changed_by="mallory", **extra)
    return envelope_for("sre.control.changed.v1", change, source="warden/operator", correlationid="ops")


async def test_gate_refuses_an_unsupported_promotion_and_keeps_the_mode(world) -> None:  # type: ignore[no-untyped-def]
    scope = "plan:error-rate"  # configured review
    with pytest.raises(PoisonMessage, match=r"plan_run_mode for plan:error-rate refused: .*must carry its evidence"):
        await world.ops.control_changed(_control("autonomous", scope))
    assert (ControlKind.PLAN_RUN_MODE.value, scope) not in await world.store.controls()
    await world.ops.control_changed(_control("autonomous", scope, evidence=CLEAN))
    assert (await world.store.controls())[(ControlKind.PLAN_RUN_MODE.value, scope)] == "autonomous"


async def test_gate_measures_the_step_from_the_mode_in_force(world) -> None:  # type: ignore[no-untyped-def]
    scope = "plan:error-rate"
    await world.ops.control_changed(_control("shadow", scope))  # demotion: always accepted
    with pytest.raises(PoisonMessage, match="shadow -> autonomous skips review"):
        await world.ops.control_changed(_control("autonomous", scope, evidence=CLEAN))
    await world.ops.control_changed(_control("review", scope, evidence=AGREEING))
    assert (await world.store.controls())[(ControlKind.PLAN_RUN_MODE.value, scope)] == "review"
