"""Response plans from warden.yaml may name services; an unmapped resource (environment
`unknown`) never gets an autonomous write, whatever a plan says."""

from __future__ import annotations

from datetime import UTC, datetime

from warden_contracts.catalog import default_catalog
from warden_contracts.events import DecisionOutcome, ProposedAction
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.model import Controls
from warden_policy.domain.rules import DecisionRequest, GateRules, choose_mode

PLANS = ResponsePlans.model_validate(
    {
        "response_plans": [
            {"name": "checkout-auto", "match": {"services": ["checkout-api"]}, "run_mode": "autonomous"},
            {"name": "everything-auto", "match": {"environments": ["*"]}, "run_mode": "autonomous"},
        ]
    }
)
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)


def request(target: str, environment: str = "dev") -> DecisionRequest:
    action = ProposedAction(
        action_id="act-1", kind="restart_service", target=target, params={}, rationale="r", confidence=0.9
    )
    return DecisionRequest("inc-1", "memory_pressure", environment, action, Controls(), NOW)


def test_a_plan_naming_services_matches_only_their_actions() -> None:
    assert PLANS.select("memory_pressure", "dev", "checkout-api").name == "checkout-auto"  # type: ignore[union-attr]
    assert PLANS.select("memory_pressure", "dev", "orders-worker").name == "everything-auto"  # type: ignore[union-attr]
    assert choose_mode(PLANS, request("orders-worker")).plan == "everything-auto"


def test_an_unknown_environment_is_never_executed_autonomously() -> None:
    rules = GateRules(default_catalog(), PLANS, CedarPolicy())
    known = rules.decide(request("checkout-api", "dev"))
    unknown = rules.decide(request("checkout-api", "unknown"))
    assert known.outcome is DecisionOutcome.EXECUTE
    assert unknown.outcome is not DecisionOutcome.EXECUTE
    assert any("environment" in reason for reason in unknown.reasons)
