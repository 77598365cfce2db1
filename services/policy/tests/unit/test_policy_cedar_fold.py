"""Questions that differ only in their action are put to Cedar as one request (cedar_fold): every
verdict (allowed, reasons, error messages in order) must be the one Cedar gives for each question
on its own against the whole policy set, for every action, with user policies whose action scope
is unconstrained, reached through an action group, or failing to evaluate."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from warden_policy.adapters.cedar_fold import ActionFold
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.domain.evaluation import (
    AGENT,
    APPROVE,
    APPROVER,
    EXECUTE,
    RELEASE_WITH_APPROVALS,
    REQUEST_APPROVAL,
    Principal,
    Question,
    TargetRef,
)
from warden_policy.policy_suite import DEFAULTS

CedarAlone = Callable[[Path | None, Question], tuple[bool, set[str], tuple[str, ...]]]
PLANNER = Principal(AGENT, "warden-planner")
RELEASER = Principal(AGENT, "warden-policy")
APPROVERS = [
    Principal(APPROVER, "erin", frozenset({"sre-leads"})),
    Principal(APPROVER, "olu", frozenset({"sre-oncall"})),
]
TARGETS = [
    TargetRef("orders-api", "dev"),
    TargetRef("orders-db", "prod", "rg-data"),
    TargetRef("mystery", "unknown"),
    TargetRef("elsewhere", "qa", "other"),
]
# Policies a user may add: no action scope, an action group of the schema, a guard that fails.
USER_POLICIES = """
@id("no_tier_4_anywhere")
@reason("tier 4 is never touched")
forbid (principal, action, resource) when { context.tier >= 4 };

@id("tier_0_always")
@reason("tier 0 is always fine")
permit (principal, action, resource) when { context.tier == 0 };

@id("writes_never_delete")
@reason("nothing that writes may delete")
forbid (principal, action in Warden::Action::"writes", resource) when { context.kind == "delete_everything" };

@id("overflowing_guard")
@reason("a guard with a bug: tier 2 and up overflow")
forbid (principal, action, resource) when { context.tier * 9223372036854775807 > 1 };

@id("overflowing_write_guard")
@reason("another guard with a bug, for writes only")
forbid (principal, action in [Warden::Action::"writes"], resource)
when { context.actions_last_hour * 9223372036854775807 > 1 };
"""


@pytest.fixture
def user_policy_dir(tmp_path: Path) -> Path:
    shipped = resources.files("warden_policy").joinpath("cedar")
    target = tmp_path / "cedar"
    target.mkdir()
    for entry in shipped.iterdir():
        (target / entry.name).write_text(entry.read_text())
    schema = (target / "schema.cedarschema").read_text()
    for gate_action in ('"execute"', '"request_approval"'):
        schema = schema.replace(f"action {gate_action} appliesTo", f'action {gate_action} in ["writes"] appliesTo')
    (target / "schema.cedarschema").write_text(
        schema.replace("namespace Warden {", 'namespace Warden {\n  action "writes";')
    )
    (target / "zz_user.cedar").write_text(USER_POLICIES)
    return target


def _gate_facts() -> list[dict[str, Any]]:
    base = DEFAULTS[EXECUTE]
    changes: list[dict[str, Any]] = [
        {},
        {"run_mode": "autonomous"},
        {"run_mode": "autonomous", "tier": 0},
        {"run_mode": "autonomous", "tier": 2},
        {"tier": 3},
        {"tier": 4, "kill_switch": True},
        {"advisory": True, "incident_owned": True},
        {"frozen": True, "access_level": "reader"},
        {"scheduled_task": "nightly", "in_change_window": False, "read_only_task": True},
        {"incident_class": "security_breach", "suspected_injection": True, "run_mode": "autonomous"},
        {"target_busy": True, "actions_on_target_last_hour": 3, "actions_for_incident": 3, "actions_last_hour": 25},
        {"kind": "delete_everything", "run_mode": "autonomous"},
        {"actions_last_hour": 2, "run_mode": "autonomous"},
        {"actions_last_hour": 2, "tier": 2},
    ]
    return [{**base, **c} for c in changes]


def _questions() -> list[list[Question]]:
    """The questions in the groups they are asked in: the gate's pair (one facts mapping for both
    actions), the quorum question, the approver's."""
    groups = [
        [Question(EXECUTE, PLANNER, t, f), Question(REQUEST_APPROVAL, PLANNER, t, f)]
        for t, f in itertools.product(TARGETS, _gate_facts())
    ]
    groups += [
        [Question(RELEASE_WITH_APPROVALS, RELEASER, t, {"tier": tier, "kind": "k", "approvals": n})]
        for t, tier, n in itertools.product(TARGETS, (0, 1, 2, 3, 4), (0, 1, 2))
    ]
    groups += [
        [Question(APPROVE, who, t, {"tier": tier, "kind": "k", "proposal_chain": chain})]
        for t, who, tier, chain in itertools.product(
            TARGETS, APPROVERS, (0, 1, 2, 3), (set(), {Principal(APPROVER, "erin")})
        )
    ]
    return groups


def _folded_calls(monkeypatch: pytest.MonkeyPatch, whole: cedarpy.PolicySet) -> list[tuple[int, bool]]:
    """(requests, against the whole set) of every call the adapter makes to Cedar."""
    calls: list[tuple[int, bool]] = []
    real = cedarpy.is_authorized_batch

    def counted(requests: list[dict[str, Any]], policies: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((len(requests), policies is whole))
        return real(requests, policies, *args, **kwargs)

    monkeypatch.setattr(cedarpy, "is_authorized_batch", counted)
    return calls


@pytest.mark.parametrize("user_policies", [False, True])
def test_folded_verdicts_are_cedars_own_for_every_action(
    user_policies: bool, user_policy_dir: Path, monkeypatch: pytest.MonkeyPatch, cedar_alone: CedarAlone
) -> None:
    root = user_policy_dir if user_policies else Path(str(resources.files("warden_policy").joinpath("cedar")))
    policy = CedarPolicy(root if user_policies else None, verdicts_cached=0)
    groups = _questions()
    expected = [[cedar_alone(root, q) for q in group] for group in groups]
    assert any(e[2] for group in expected for e in group) is user_policies  # errors are among the cases
    assert any(e[0] for group in expected for e in group) and not all(e[0] for group in expected for e in group)
    if user_policies:  # the action group is reached, and errors come several to a question
        assert any("writes_never_delete" in e[1] for group in expected for e in group)
        assert any(len(e[2]) >= 2 for group in expected for e in group)
    for group in groups:  # each question alone and clean at first: the schema checks its shape
        for question in group:
            policy.evaluate([question])
    calls = _folded_calls(monkeypatch, policy._policies)
    for group, wanted in zip(groups, expected, strict=True):
        calls.clear()
        found = [(v.allowed, {r.id for r in v.rules}, v.errors) for v in policy.evaluate(group)]
        assert found == wanted, group
        assert not any(whole for _, whole in calls)  # against the folded set, not the whole one
        if not any(errors for _, _, errors in wanted):  # (errors are asked again under the real name)
            assert calls == [(1, False)], group  # a gate pair is one request


def test_all_questions_of_one_call_fold_by_principal_target_and_facts(
    monkeypatch: pytest.MonkeyPatch, cedar_alone: CedarAlone
) -> None:
    policy = CedarPolicy(verdicts_cached=0)
    groups = _questions()
    questions = [q for group in groups for q in group]
    root = Path(str(resources.files("warden_policy").joinpath("cedar")))
    expected = [cedar_alone(root, q) for q in questions]
    policy.evaluate(questions)  # the schema checks every shape
    calls = _folded_calls(monkeypatch, policy._policies)
    found = [(v.allowed, {r.id for r in v.rules}, v.errors) for v in policy.evaluate(questions)]
    assert found == expected
    # A request per principal and facts mapping, whatever the actions; per target, one call for
    # each set of policies the actions reach (the gate's pair, the quorum, the approver).
    assert not any(whole for _, whole in calls) and len(calls) == 3 * len(TARGETS)
    assert sum(n for n, _ in calls) == len(groups)


def test_a_condition_that_reads_the_action_is_not_folded(tmp_path: Path) -> None:
    def fold(text: str) -> ActionFold | None:
        return ActionFold.of(json.loads(cedarpy.policies_to_json_str(text)))

    assert fold('forbid (principal, action == Warden::Action::"execute", resource) when { context.tier > 1 };')
    assert fold('permit (principal, action, resource) when { action == Warden::Action::"execute" };') is None
    assert fold('permit (principal, action, resource) unless { action in [Warden::Action::"execute"] };') is None
    assert fold("permit (principal == ?principal, action, resource);") is None


def test_a_policy_that_reads_the_action_still_gets_cedars_verdicts(
    user_policy_dir: Path, cedar_alone: CedarAlone
) -> None:
    (user_policy_dir / "zz_reads_action.cedar").write_text(
        '@id("execute_named_in_body")\n@reason("execute is refused by its name")\n'
        'forbid (principal, action, resource) when { action == Warden::Action::"execute" && context.tier == 2 };\n'
    )
    policy = CedarPolicy(user_policy_dir, verdicts_cached=0)
    assert policy._fold is None
    groups = _questions()
    for group in groups:
        for question in group:
            policy.evaluate([question])
    for group in groups:
        found = [(v.allowed, {r.id for r in v.rules}, v.errors) for v in policy.evaluate(group)]
        assert found == [cedar_alone(user_policy_dir, q) for q in group]
