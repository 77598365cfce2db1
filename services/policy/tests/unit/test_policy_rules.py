"""The decision table of the gate (tier x run mode x access level x environment x guards) through
the shipped Cedar policy, and the run-mode selection around it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_contracts.catalog import default_catalog
from warden_contracts.events import DecisionOutcome, ProposedAction
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.adapters.config_files import ConfigError, load_policy_config
from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.model import AccessLevel, Controls, RunMode
from warden_policy.domain.rules import UNKNOWN_TIER, Counts, DecisionRequest, GateRules

POLICY = CedarPolicy()
CONFIG = load_policy_config()
RULES = GateRules(default_catalog(), CONFIG.plans, POLICY)
KIND_BY_TIER = {1: "restart_service", 2: "renew_certificate", 3: "failover_region"}
# Thursday 10:00 UTC: inside the shipped prod change window.
IN_WINDOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def request(
    kind: str,
    params: dict[str, object] | None = None,
    *,
    incident_class: str = "memory_pressure",
    environment: str = "dev",
    controls: Controls | None = None,
    held_by: str | None = None,
    target: str = "checkout",
    counts: Counts | None = None,
    scheduled_task: str | None = None,
    resource_group: str | None = None,
    now: datetime = IN_WINDOW,
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
        now=now,
        resource_group=resource_group,
        scheduled_task=scheduled_task,
        target_held_by=held_by,
        counts=counts or Counts(),
    )


def rules_with_mode(mode: RunMode) -> GateRules:
    plans = ResponsePlans.model_validate({"response_plans": [{"name": "table", "run_mode": mode.value}]})
    return GateRules(default_catalog(), plans, POLICY)


TABLE_RULES = {mode: rules_with_mode(mode) for mode in RunMode}
GUARDS: dict[str, tuple[dict[str, object], str | None]] = {
    "none": ({}, None),
    "kill_switch": ({"controls": {"kill_switch": True}}, "kill_switch"),
    "freeze": ({"controls": {"frozen": True}}, "change_freeze"),
    "target_busy": ({"held_by": "act-0"}, "one_action_per_target"),
    "blast_radius": ({"counts": Counts(on_target_last_hour=3)}, "blast_radius_target"),
    "rate_limit": ({"counts": Counts(last_hour=20)}, "hourly_rate_limit"),
    "out_of_scope": ({"resource_group": "prod-secrets"}, "resource_group_scope"),
    "advisory": ({"controls": {"advisory": True}}, "advisory_mode"),
    "incident_owner": ({"controls": {"incident_owner": "erin"}}, "incident_commander"),
}
REFUSING = {"kill_switch", "freeze", "target_busy", "blast_radius", "rate_limit", "out_of_scope"}
HANDING_OFF = {"advisory", "incident_owner"}


def expected(tier: int, mode: RunMode, access: AccessLevel, environment: str, guard: str) -> DecisionOutcome:
    """The issue's rules, written independently of the policy files."""
    if guard in REFUSING or access is AccessLevel.READER:
        outcome = DecisionOutcome.REFUSED
    elif tier == 3 or guard in HANDING_OFF:
        outcome = DecisionOutcome.HANDOFF
    elif tier <= 1 and mode is not RunMode.REVIEW and environment not in ("prod", "unknown"):
        outcome = DecisionOutcome.EXECUTE
    else:
        outcome = DecisionOutcome.AWAIT_APPROVAL
    return DecisionOutcome.SHADOWED if mode is RunMode.SHADOW else outcome


@pytest.mark.parametrize("guard", list(GUARDS))
@pytest.mark.parametrize("environment", ["dev", "prod", "unknown"])
@pytest.mark.parametrize("access", list(AccessLevel))
@pytest.mark.parametrize("mode", list(RunMode))
@pytest.mark.parametrize("tier", [1, 2, 3])
def test_policy_decision_table(tier: int, mode: RunMode, access: AccessLevel, environment: str, guard: str) -> None:
    setup, rule = GUARDS[guard]
    controls = Controls(access_level=access, **setup.get("controls", {}))  # type: ignore[arg-type]
    extra = {k: v for k, v in setup.items() if k != "controls"}
    decision = TABLE_RULES[mode].decide(
        request(KIND_BY_TIER[tier], environment=environment, controls=controls, **extra)  # type: ignore[arg-type]
    )
    assert decision.outcome is expected(tier, mode, access, environment, guard), decision.reasons
    assert decision.tier == tier and decision.run_mode is mode and not decision.proposal_defect
    if rule and expected(tier, RunMode.REVIEW, access, environment, guard) is not DecisionOutcome.AWAIT_APPROVAL:
        assert any(r.startswith(f"{rule}:") for r in decision.reasons), decision.reasons
    if mode is RunMode.SHADOW:
        would = expected(tier, RunMode.AUTONOMOUS, access, environment, guard)
        assert f"shadow: would have {would.value}" in decision.reasons


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
    assert "review: no policy lets this run without approval" in decision.reasons


def test_policy_prod_and_security_are_pinned_to_review_by_rule() -> None:
    prod = RULES.decide(request("restart_service", environment="prod"))
    assert prod.outcome is DecisionOutcome.AWAIT_APPROVAL
    security = rules_with_mode(RunMode.AUTONOMOUS).decide(request("restart_service", incident_class="security_alert"))
    assert security.outcome is DecisionOutcome.AWAIT_APPROVAL
    assert any(r.startswith("security_pinned_to_review:") for r in security.reasons)


def test_policy_unmatched_incident_falls_back_to_agent_default_and_its_control() -> None:
    decision = RULES.decide(request("restart_service", incident_class="disk_pressure", environment="dev"))
    assert decision.run_mode is RunMode.REVIEW and decision.approval_timeout_s == 900
    assert "agent_default: run mode review" in decision.reasons
    autonomous = RULES.decide(
        request(
            "restart_service", incident_class="disk_pressure", controls=Controls(default_run_mode=RunMode.AUTONOMOUS)
        )
    )
    assert autonomous.outcome is DecisionOutcome.EXECUTE


def test_policy_progressive_autonomy_and_shadow_per_plan() -> None:
    plan = "plan:error-rate"
    promoted = RULES.decide(
        request(
            "restart_service",
            incident_class="elevated_error_rate",
            controls=Controls(plan_run_modes={plan: RunMode.AUTONOMOUS}),
        )
    )
    assert promoted.outcome is DecisionOutcome.EXECUTE
    assert f"plan_run_mode: operator set autonomous for {plan}" in promoted.reasons
    shadowed = RULES.decide(
        request("restart_service", controls=Controls(shadow_scopes=frozenset({"plan:memory-pressure-nonprod"})))
    )
    assert shadowed.outcome is DecisionOutcome.SHADOWED and "shadow: would have execute" in shadowed.reasons
    other_plan = RULES.decide(
        request(
            "restart_service",
            incident_class="elevated_error_rate",
            controls=Controls(shadow_scopes=frozenset({"plan:x"})),
        )
    )
    assert other_plan.outcome is DecisionOutcome.AWAIT_APPROVAL


def test_policy_scheduled_tasks_have_their_own_run_mode_and_windows() -> None:
    report = RULES.decide(request("restart_service", scheduled_task="daily-health-report"))
    assert report.run_mode is RunMode.AUTONOMOUS and report.outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("read_only_task:") for r in report.reasons)
    renewal = RULES.decide(request("renew_certificate", scheduled_task="weekly-cert-renewal", environment="prod"))
    assert renewal.outcome is DecisionOutcome.AWAIT_APPROVAL
    weekend = RULES.decide(
        request("renew_certificate", scheduled_task="weekly-cert-renewal", environment="prod", now=SATURDAY)
    )
    assert weekend.outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("change_window:") for r in weekend.reasons)
    # Incident response is not held back by change windows.
    assert RULES.decide(request("restart_service", environment="prod", now=SATURDAY)).outcome is (
        DecisionOutcome.AWAIT_APPROVAL
    )


def test_policy_approval_timeout_precedence() -> None:
    plans = ResponsePlans.model_validate(
        {
            "agent": {"approval_timeout_s": 900},
            "response_plans": [
                {"name": "fast", "match": {"environments": ["dev"]}, "run_mode": "review", "approval_timeout_s": 60}
            ],
        }
    ).with_timeout(30)
    rules = GateRules(default_catalog(), plans, POLICY)
    assert rules.decide(request("restart_service", environment="dev")).approval_timeout_s == 60
    assert rules.decide(request("restart_service", environment="staging")).approval_timeout_s == 30


def test_policy_config_rejects_typos(tmp_path: Path) -> None:
    (tmp_path / "response_plans.yaml").write_text("agent: {default_run_mode: yolo}\n")
    (tmp_path / "approvers.yaml").write_text("users: []\n")
    with pytest.raises(ConfigError, match="default_run_mode"):
        load_policy_config(tmp_path)
    (tmp_path / "response_plans.yaml").write_text("response_plans:\n  - {name: a, run_mode: review, mtch: {}}\n")
    with pytest.raises(ConfigError, match="mtch"):
        load_policy_config(tmp_path)
    (tmp_path / "response_plans.yaml").write_text("change_windows: {prod: [{days: [funday]}]}\n")
    with pytest.raises(ConfigError, match="change window"):
        load_policy_config(tmp_path)
