"""`warden_policy.api`: the autonomy ladder the CLI steps along, the bar it asks before
publishing a promotion, and the configured run modes."""

from __future__ import annotations

from warden_contracts.events import PromotionEvidence
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
