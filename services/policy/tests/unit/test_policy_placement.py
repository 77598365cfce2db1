"""The gate places a target by the estate, not by the plan: an unmapped resource is `unknown`
(Review pinned, tier 2 needs two leads) even when its alert says dev, and a mapped one is in the
environment warden.yaml gives it whatever the plan claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_contracts.envelope import Envelope
from warden_contracts.events import ApprovalRequested, DecisionOutcome, PolicyDecided, SignedAction
from warden_policy.adapters.config_files import ConfigError, load_policy_config
from warden_policy.domain.placement import Inventory, Placement, place

ESTATE = Inventory({"checkout": "dev", "payments": "prod"})
PACKAGED = Path(__file__).parents[2] / "src" / "warden_policy" / "config"


@pytest.fixture
def inventory() -> Inventory:
    return ESTATE


def decided(out: list[Envelope]) -> PolicyDecided:
    return next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")


def requested(out: list[Envelope]) -> ApprovalRequested:
    return next(e.payload(ApprovalRequested) for e in out if e.type == "sre.approval.requested.v1")


def test_policy_placement_rule() -> None:
    assert ESTATE.place("checkout", "dev") == Placement("dev")
    assert ESTATE.place("payments", "dev").environment == "prod"
    assert ESTATE.place("ghost-api", "dev").environment == "unknown"
    assert ESTATE.place("ghost-api", "unknown") == Placement("unknown")  # already what it is: no reason
    assert place(None, "ghost-api", "dev") == Placement("dev")  # no estate: the plan's environment stands


async def test_policy_unmapped_target_is_never_dev_even_when_the_alert_says_so(world, make_plan) -> None:
    # memory_pressure in dev is Autonomous by the shipped plans: a mapped dev service restarts alone...
    mapped = await world.gate.handle(make_plan(target="checkout", environment="dev"))
    assert decided(mapped).outcome is DecisionOutcome.EXECUTE
    assert not any(r.startswith("estate:") for r in decided(mapped).reasons)
    signed = next(e.payload(SignedAction) for e in mapped if e.type == "sre.action.approved.v1")
    assert signed.environment == "dev"

    # ...an unmapped one, with the very same plan saying dev, waits for a human.
    out = await world.gate.handle(make_plan(target="ghost-api", environment="dev"))
    decision = decided(out)
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert decision.reasons[0] == (
        "estate: ghost-api is not in warden.yaml (unmapped resource): environment unknown, not 'dev' as the plan says"
    )
    assert any(r.startswith("unknown_environment_pinned_to_review") for r in decision.reasons)
    assert not [e for e in out if e.type == "sre.action.approved.v1"]
    assert requested(out).environment == "unknown"


async def test_policy_unmapped_tier_2_needs_two_approvers_like_production(world, make_plan) -> None:
    plan = make_plan(
        incident_class="bad_deploy",
        target="ghost-api",
        environment="dev",
        kind="rollback_deployment",
        params={"to_version": "v1.0.0"},
    )
    assert requested(await world.gate.handle(plan)).approvals_required == 2
    mapped = make_plan(
        incident_class="bad_deploy",
        target="checkout",
        environment="dev",
        kind="rollback_deployment",
        params={"to_version": "v1.0.0"},
    )
    assert requested(await world.gate.handle(mapped)).approvals_required == 1


async def test_policy_the_estate_environment_wins_over_the_plans(world, make_plan) -> None:
    out = await world.gate.handle(make_plan(target="payments", environment="dev"))
    decision = decided(out)
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert decision.reasons[0] == "estate: payments is prod in warden.yaml, not 'dev' as the plan says"
    assert any(r.startswith("prod_pinned_to_review") for r in decision.reasons)
    assert requested(out).environment == "prod"


def test_policy_reads_the_inventory_beside_its_config(tmp_path: Path) -> None:
    for name in ("response_plans.yaml", "approvers.yaml"):
        (tmp_path / name).write_text((PACKAGED / name).read_text())
    assert load_policy_config(tmp_path).inventory is None  # no services.yaml: nothing to place by
    (tmp_path / "services.yaml").write_text("services:\n  - {name: checkout, environment: dev}\n")
    inventory = load_policy_config(tmp_path).inventory
    assert inventory is not None and inventory.place("checkout", "prod").environment == "dev"
    (tmp_path / "services.yaml").write_text("services:\n  - {name: checkout, environment: qa}\n")
    with pytest.raises(ConfigError, match=r"services\.yaml"):
        load_policy_config(tmp_path)
    (tmp_path / "services.yaml").write_text(
        "services:\n  - {name: a, environment: dev}\n  - {name: a, environment: prod}\n"
    )
    with pytest.raises(ConfigError, match="unique"):
        load_policy_config(tmp_path)
