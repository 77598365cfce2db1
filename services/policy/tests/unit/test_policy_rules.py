"""The decision table of the gate's rules, and the config they read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from warden_contracts.catalog import default_catalog
from warden_contracts.events import DecisionOutcome, ProposedAction
from warden_policy.adapters.config_files import ConfigError, load_policy_config
from warden_policy.domain.config import Approvers, ResponsePlans
from warden_policy.domain.model import AccessLevel, Controls, RunMode, effective_controls
from warden_policy.domain.rules import UNKNOWN_TIER, DecisionRequest, PythonRules

CONFIG = load_policy_config()
RULES = PythonRules(default_catalog(), CONFIG.plans)
KIND_BY_TIER = {1: ("restart_service", {}), 2: ("renew_certificate", {}), 3: ("failover_region", {})}
# (incident class, environment) picking each run mode through the shipped response plans.
SCENARIO_BY_MODE = {RunMode.AUTONOMOUS: ("memory_pressure", "dev"), RunMode.REVIEW: ("elevated_error_rate", "dev")}


def request(
    kind: str,
    params: dict[str, object] | None = None,
    *,
    incident_class: str = "memory_pressure",
    environment: str = "dev",
    controls: Controls | None = None,
    held_by: str | None = None,
    target: str = "checkout",
    **extra: object,
) -> DecisionRequest:
    action = ProposedAction(
        action_id="act-1", kind=kind, target=target, params=params or {}, rationale="r", confidence=0.9, **extra
    )
    return DecisionRequest(
        incident_id="inc-1",
        incident_class=incident_class,
        environment=environment,
        action=action,
        controls=controls or Controls(),
        target_held_by=held_by,
    )


def expected(tier: int, mode: RunMode, access: AccessLevel, kill: bool) -> DecisionOutcome:
    if kill or access is AccessLevel.READER:
        return DecisionOutcome.REFUSED
    if tier == 3:
        return DecisionOutcome.HANDOFF
    if mode is RunMode.AUTONOMOUS and tier <= 1:
        return DecisionOutcome.EXECUTE
    return DecisionOutcome.AWAIT_APPROVAL


@pytest.mark.parametrize("kill", [False, True], ids=["kill-off", "kill-on"])
@pytest.mark.parametrize("access", list(AccessLevel))
@pytest.mark.parametrize("mode", list(RunMode))
@pytest.mark.parametrize("tier", [1, 2, 3])
def test_policy_decision_table(tier: int, mode: RunMode, access: AccessLevel, kill: bool) -> None:
    kind, params = KIND_BY_TIER[tier]
    incident_class, environment = SCENARIO_BY_MODE[mode]
    decision = RULES.decide(
        request(
            kind,
            params,
            incident_class=incident_class,
            environment=environment,
            controls=Controls(kill_switch=kill, access_level=access),
        )
    )
    assert decision.outcome is expected(tier, mode, access, kill)
    assert decision.tier == tier
    assert decision.run_mode is mode
    if kill:
        assert any(r.startswith("kill_switch") for r in decision.reasons)
    elif access is AccessLevel.READER:
        assert any(r.startswith("access_level") for r in decision.reasons)
    assert not decision.proposal_defect


def test_policy_unknown_kind_is_refused_as_a_defect() -> None:
    decision = RULES.decide(request("delete_database"))
    assert decision.outcome is DecisionOutcome.REFUSED
    assert decision.proposal_defect and decision.tier == UNKNOWN_TIER
    assert "catalog: kind 'delete_database' not in catalog" in decision.reasons


def test_policy_bad_params_and_denied_target_are_refused_with_every_reason() -> None:
    decision = RULES.decide(request("scale_service", {"replicas": 50}, target="kube-system/dns"))
    assert decision.outcome is DecisionOutcome.REFUSED and decision.proposal_defect
    assert "catalog: replicas: 50 is above the maximum 10" in decision.reasons
    assert "catalog: target 'kube-system/dns' is on the do-not-touch list" in decision.reasons


def test_policy_tier_comes_from_the_catalog_not_the_proposal() -> None:
    decision = RULES.decide(request("renew_certificate", tier=1))
    assert decision.tier == 2
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert "tier: tier 2 always requires approval" in decision.reasons


def test_policy_busy_target_is_refused() -> None:
    decision = RULES.decide(request("restart_service", held_by="act-0"))
    assert decision.outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("target_busy") and "target busy" in r for r in decision.reasons)


def test_policy_prod_is_pinned_to_review_even_for_memory_pressure() -> None:
    decision = RULES.decide(request("restart_service", environment="prod"))
    assert decision.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert decision.run_mode is RunMode.REVIEW
    assert "response_plan: prod-always-review sets review" in decision.reasons


def test_policy_unmatched_incident_falls_back_to_agent_default() -> None:
    decision = RULES.decide(request("restart_service", incident_class="disk_pressure", environment="dev"))
    assert decision.run_mode is RunMode.REVIEW
    assert decision.approval_timeout_s == 900
    assert "agent_default: run mode review" in decision.reasons


def test_policy_approval_timeout_precedence() -> None:
    plans = ResponsePlans.model_validate(
        {
            "agent": {"approval_timeout_s": 900},
            "response_plans": [
                {"name": "fast", "match": {"environments": ["dev"]}, "run_mode": "review", "approval_timeout_s": 60}
            ],
        }
    ).with_timeout(30)
    rules = PythonRules(default_catalog(), plans)
    assert rules.decide(request("restart_service", environment="dev")).approval_timeout_s == 60
    assert rules.decide(request("restart_service", environment="staging")).approval_timeout_s == 30


def test_policy_scoped_controls_most_restrictive_wins() -> None:
    stored = {
        ("kill_switch", "environment:prod"): "on",
        ("access_level", "global"): "privileged",
        ("access_level", "target:payments"): "reader",
    }
    prod = effective_controls(stored, environment="prod", target="checkout", default_access=AccessLevel.PRIVILEGED)
    dev = effective_controls(stored, environment="dev", target="checkout", default_access=AccessLevel.READER)
    payments = effective_controls(stored, environment="dev", target="payments", default_access=AccessLevel.PRIVILEGED)
    assert prod == Controls(kill_switch=True, access_level=AccessLevel.PRIVILEGED)
    assert dev == Controls(kill_switch=False, access_level=AccessLevel.PRIVILEGED)
    assert payments.access_level is AccessLevel.READER


def test_policy_shipped_approvers_authorise_by_tier() -> None:
    approvers = CONFIG.approvers
    assert approvers.authorised_groups(1, "dev") == {"sre-oncall", "sre-leads"}
    assert approvers.authorised_groups(2, "prod") == {"sre-leads"}
    assert approvers.authorised_groups(3, "prod") == set()
    assert approvers.directory_groups("carol") == {"viewers"}


def test_policy_config_rejects_tier_three_approvals_and_typos(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tier 3 is human-only"):
        Approvers.model_validate({"users": [], "authorisation": {3: {"*": ["sre-leads"]}}})
    (tmp_path / "response_plans.yaml").write_text("agent: {default_run_mode: yolo}\n")
    (tmp_path / "approvers.yaml").write_text("users: []\nauthorisation: {}\n")
    with pytest.raises(ConfigError, match="default_run_mode"):
        load_policy_config(tmp_path)
    (tmp_path / "response_plans.yaml").write_text("response_plans:\n  - {name: a, run_mode: review, mtch: {}}\n")
    with pytest.raises(ConfigError, match="mtch"):
        load_policy_config(tmp_path)
