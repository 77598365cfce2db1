"""Issue 14's tier model through the shipped Cedar policy: a rollback is tier 2, an unknown
environment is treated as production, and a suspected injection only ever makes a decision stricter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from warden_contracts.catalog import default_catalog
from warden_contracts.events import DecisionOutcome, PlanFinding, PlanProposed, ProposedAction
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.domain.approver_rules import ApproverRules
from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.evaluation import TargetRef
from warden_policy.domain.model import AccessLevel, Controls, RunMode
from warden_policy.domain.rules import DecisionRequest, GateRules, suspected_injection

POLICY = CedarPolicy()
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
# Every environment autonomous, so anything stricter than EXECUTE comes from a rule, not the plan.
AUTONOMOUS = GateRules(
    default_catalog(),
    ResponsePlans.model_validate({"response_plans": [{"name": "everything", "run_mode": "autonomous"}]}),
    POLICY,
)


def request(
    kind: str = "restart_service",
    *,
    environment: str = "dev",
    params: dict[str, object] | None = None,
    injection: bool = False,
    controls: Controls | None = None,
) -> DecisionRequest:
    action = ProposedAction(
        action_id="act-1", kind=kind, target="checkout", params=params or {}, rationale="r", confidence=0.9
    )
    return DecisionRequest(
        incident_id="inc-1",
        incident_class="failed_health_checks",
        environment=environment,
        action=action,
        controls=controls or Controls(),
        now=NOW,
        suspected_injection=injection,
    )


def test_policy_rollback_is_tier_2_and_asks_even_under_an_autonomous_plan() -> None:
    decision = AUTONOMOUS.decide(request("rollback_deployment", params={"to_version": "v1.2"}))
    assert decision.tier == 2 and decision.run_mode is RunMode.AUTONOMOUS
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL, decision.reasons
    assert "tier: catalog tier 2 for rollback_deployment" in decision.reasons


def test_policy_rollback_in_prod_needs_two_leads_and_oncall_cannot_approve() -> None:
    rules = ApproverRules(POLICY)
    prod = TargetRef("payments-api", "prod", "")
    dev = TargetRef("checkout", "dev", "")
    assert rules.approvals_required(target=prod, tier=2, kind="rollback_deployment") == 2
    assert rules.approvals_required(target=dev, tier=2, kind="rollback_deployment") == 1


def test_policy_unknown_environment_is_review_never_autonomous() -> None:
    decision = AUTONOMOUS.decide(request(environment="unknown"))
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL, decision.reasons
    assert any(r.startswith("unknown_environment_pinned_to_review:") for r in decision.reasons)
    # The same action in dev runs alone: the pin, not the plan, made the difference.
    assert AUTONOMOUS.decide(request(environment="dev")).outcome is DecisionOutcome.EXECUTE


def test_policy_unknown_environment_tier_2_needs_two_approvers_like_prod() -> None:
    unknown = TargetRef("checkout", "unknown", "")
    assert ApproverRules(POLICY).approvals_required(target=unknown, tier=2, kind="renew_certificate") == 2


def test_policy_unknown_environment_still_obeys_refusals() -> None:
    decision = AUTONOMOUS.decide(request(environment="unknown", controls=Controls(kill_switch=True)))
    assert decision.outcome is DecisionOutcome.REFUSED


@pytest.mark.parametrize("environment", ["dev", "staging", "prod", "unknown"])
@pytest.mark.parametrize("access", list(AccessLevel))
@pytest.mark.parametrize("kind", ["restart_service", "rollback_deployment", "renew_certificate", "failover_region"])
def test_policy_suspected_injection_never_loosens_a_decision(environment: str, access: AccessLevel, kind: str) -> None:
    params: dict[str, object] = {"to_version": "v1.2"} if kind == "rollback_deployment" else {}
    controls = Controls(access_level=access)
    clean = AUTONOMOUS.decide(request(kind, environment=environment, params=params, controls=controls))
    flagged = AUTONOMOUS.decide(
        request(kind, environment=environment, params=params, controls=controls, injection=True)
    )
    strictness = [
        DecisionOutcome.EXECUTE,
        DecisionOutcome.AWAIT_APPROVAL,
        DecisionOutcome.HANDOFF,
        DecisionOutcome.REFUSED,
    ]
    assert strictness.index(flagged.outcome) >= strictness.index(clean.outcome)
    assert flagged.outcome is not DecisionOutcome.EXECUTE


def test_policy_suspected_injection_turns_an_autonomous_restart_into_review_with_its_reason() -> None:
    decision = AUTONOMOUS.decide(request(injection=True))
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert any(r.startswith("suspected_injection_pinned_to_review:") for r in decision.reasons)


def test_policy_reads_the_injection_finding_from_the_plan() -> None:
    base = {"incident_id": "i", "plan_id": "p", "incident_class": "c", "environment": "dev", "runbook": "r"}
    base["summary"] = "s"
    finding = PlanFinding(kind="suspected_injection", source="alert.description", rule="ignore_previous")
    assert suspected_injection(PlanProposed(**base, findings=[finding]))
    assert not suspected_injection(PlanProposed(**base))
    other = PlanFinding(kind="stale_metric", source="get_service", rule="x")
    assert not suspected_injection(PlanProposed(**base, findings=[other]))
