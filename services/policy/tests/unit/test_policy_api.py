"""`warden_policy.api`: the autonomy ladder the CLI steps along, the bar it asks before
publishing a promotion, the configured run modes, and the controls and decisions it builds."""

from __future__ import annotations

import pytest
from warden_contracts.events import ApprovalDecided, ApprovalDecision, ControlChanged, ControlKind, PromotionEvidence
from warden_policy import api


def test_the_ladder_steps_one_mode_at_a_time_and_stops_at_either_end() -> None:
    assert api.RUN_MODES == ("shadow", "review", "autonomous")
    assert api.autonomy_step("shadow", +1) == "review"
    assert api.autonomy_step("review", +1) == "autonomous"
    assert api.autonomy_step("autonomous", +1) is None
    assert api.autonomy_step("shadow", -1) is None
    # An unknown mode steps as the agent's default, review.
    assert api.autonomy_step("mystery", -1) == "shadow"


def test_the_bar_is_policys() -> None:
    thin = PromotionEvidence(shadow_same=1)
    assert api.promotion_gap(thin, "review") == "only 1 shadow decision(s) recorded; 3 needed"
    assert api.promotion_gap(PromotionEvidence(shadow_same=3), "review") is None


def test_configured_run_modes_are_the_packaged_plans() -> None:
    modes = api.configured_run_modes()
    assert modes and set(modes.values()) <= set(api.RUN_MODES)
    assert api.packaged_config_dir().joinpath("response_plans.yaml").is_file()


def test_a_forced_promotion_needs_a_reason_as_the_gate_says() -> None:
    thin = PromotionEvidence(shadow_same=1)
    with pytest.raises(api.PromotionRefused, match="a forced promotion to review needs a reason"):
        api.check_promotion("shadow", "review", thin, forced=True, reason=" ")
    api.check_promotion("shadow", "review", thin, forced=True, reason="pilot")
    with pytest.raises(api.PromotionRefused, match="skips review"):
        api.check_promotion("shadow", "autonomous", thin, forced=True, reason="pilot")


def test_a_control_the_gate_could_not_honour_is_never_built() -> None:
    with pytest.raises(api.InvalidControl, match="kill_switch value must be on or off"):
        api.control_change(ControlKind.KILL_SWITCH, "maybe", "op", source="warden/cli/op")
    with pytest.raises(api.InvalidControl, match="unsupported scope"):
        api.control_change(ControlKind.PLAN_RUN_MODE, "review", "op", source="warden/cli/op")


def test_controls_are_correlated_per_thing_controlled() -> None:
    kill = api.control_change(ControlKind.KILL_SWITCH, "on", "op", source="warden/cli/op", reason="storm")
    assert (kill.type, kill.correlationid, kill.source) == (
        "sre.control.changed.v1",
        "control:kill_switch",
        "warden/cli/op",
    )
    assert kill.payload(ControlChanged) == ControlChanged(
        kind=ControlKind.KILL_SWITCH, value="on", changed_by="op", reason="storm"
    )
    plan = api.control_change(ControlKind.PLAN_RUN_MODE, "review", "op", source="s", scope="plan:p", forced=True)
    assert plan.correlationid == "control:plan:p" and plan.payload(ControlChanged).forced


def test_a_decision_is_in_its_requests_incident_and_correlation() -> None:
    request = {"approval_id": "ap-1", "incident_id": "inc-1", "action_hash": "sha256:abc"}
    sent = api.approval_decision(
        request, "corr-1", ApprovalDecision.DENY, "token", source="warden/cli/bob", channel="cli", reason="risky"
    )
    assert (sent.type, sent.correlationid, sent.subject) == ("sre.approval.decided.v1", "corr-1", "inc-1")
    assert sent.payload(ApprovalDecided) == ApprovalDecided(
        approval_id="ap-1", decision=ApprovalDecision.DENY, reason="risky", identity_token="token", channel="cli"
    )
