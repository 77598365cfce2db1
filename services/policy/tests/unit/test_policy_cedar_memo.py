"""The Cedar adapter answers a question asked before from its memo and lets targets of equal
attributes share entities only where the policy cannot tell them apart: every verdict must be
the one Cedar gives for the real request, with the real target's name."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from warden_policy.adapters.cedar_facts import names_entities_of
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
AGENT_PLANNER = Principal(AGENT, "warden-planner")


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    shipped = resources.files("warden_policy").joinpath("cedar")
    target = tmp_path / "cedar"
    target.mkdir()
    for entry in shipped.iterdir():
        (target / entry.name).write_text(entry.read_text())
    return target


def _questions() -> list[Question]:
    """Gate, quorum and approver questions over targets that share attributes and ones that do not."""
    targets = [
        TargetRef("orders-api", "dev"),
        TargetRef("billing-api", "dev"),
        TargetRef("orders-db", "prod", "rg-data"),
        TargetRef("payments", "prod", "rg-data"),
        TargetRef("mystery", "unknown"),
    ]
    gate_facts = [
        dict(DEFAULTS[EXECUTE]),
        {**DEFAULTS[EXECUTE], "run_mode": "autonomous"},
        {**DEFAULTS[EXECUTE], "run_mode": "autonomous", "tier": 2},
        {**DEFAULTS[EXECUTE], "kill_switch": True},
        {**DEFAULTS[EXECUTE], "tier": 3, "incident_class": "security_breach"},
    ]
    questions = [
        Question(action, AGENT_PLANNER, target, facts)
        for target, facts, action in itertools.product(targets, gate_facts, (EXECUTE, REQUEST_APPROVAL))
    ]
    questions += [
        Question(
            RELEASE_WITH_APPROVALS, Principal(AGENT, "warden-policy"), target, {"tier": 2, "kind": "k", "approvals": n}
        )
        for target, n in itertools.product(targets, (1, 2))
    ]
    approver = Principal(APPROVER, "erin", frozenset({"sre-leads"}))
    questions += [
        Question(APPROVE, approver, target, {"tier": 2, "kind": "k", "proposal_chain": chain})
        for target, chain in itertools.product(targets, (set(), {Principal(APPROVER, "erin")}))
    ]
    return questions


def _clean(answer: tuple[bool, set[str], tuple[str, ...]]) -> tuple[bool, set[str]]:
    allowed, reasons, errors = answer
    assert not errors
    return allowed, reasons


def _verdicts(policy: CedarPolicy, questions: list[Question]) -> list[tuple[bool, set[str]]]:
    return [(v.allowed, {r.id for r in v.rules}) for v in policy.evaluate(questions)]


def test_every_verdict_is_cedars_own_first_time_and_from_the_memo(cedar_alone: CedarAlone) -> None:
    questions = _questions()
    expected = [_clean(cedar_alone(None, q)) for q in questions]
    policy = CedarPolicy()
    assert _verdicts(policy, questions) == expected
    # Asked again, one at a time and in the reverse order: answered from the memo, unchanged.
    assert [_verdicts(policy, [q])[0] for q in reversed(questions)] == expected[::-1]
    assert _verdicts(CedarPolicy(verdicts_cached=0), questions) == expected


def test_a_policy_that_names_a_target_tells_it_apart_from_its_twin(policy_copy: Path, cedar_alone: CedarAlone) -> None:
    (policy_copy / "named.cedar").write_text(
        '@id("orders_db_hands_off")\n@reason("orders-db is changed by its owners only")\n'
        'forbid (principal, action == Warden::Action::"request_approval", resource == Warden::Target::"orders-db")\n'
        "when { true };\n"
    )
    policy = CedarPolicy(policy_copy)
    twins = [TargetRef("orders-api", "prod", "rg-data"), TargetRef("orders-db", "prod", "rg-data")]
    for _ in range(2):  # the second round from the memo
        verdicts = policy.evaluate([Question(REQUEST_APPROVAL, AGENT_PLANNER, t, DEFAULTS[EXECUTE]) for t in twins])
        assert [v.allowed for v in verdicts] == [True, False]
        assert [r.id for r in verdicts[1].rules] == ["orders_db_hands_off"]
    questions = _questions()
    assert _verdicts(policy, questions) == [_clean(cedar_alone(policy_copy, q)) for q in questions]


def test_entity_literals_and_templates_are_found_wherever_they_are() -> None:
    def named(text: str) -> bool:
        return names_entities_of(json.loads(cedarpy.policies_to_json_str(text)), "Warden::Target")

    assert not named('permit (principal, action, resource) when { resource.environment == "prod" };')
    assert not named("permit (principal, action, resource is Warden::Target);")
    assert named('permit (principal, action, resource == Warden::Target::"x");')
    assert named('permit (principal, action, resource in Warden::Target::"x");')
    assert named('permit (principal, action, resource) when { [Warden::Target::"x"].contains(resource) };')
    assert named('permit (principal, action, resource) unless { resource == Warden::Target::"x" };')
    assert named("permit (principal, action, resource == ?resource);")


def test_a_verdict_with_errors_is_never_kept(policy_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (policy_copy / "overflow.cedar").write_text(
        '@id("overflowing_guard")\n@reason("a guard with a bug")\n'
        'forbid (principal, action == Warden::Action::"execute", resource)\n'
        "when { context.actions_last_hour * 9223372036854775807 > 1 };\n"
    )
    policy = CedarPolicy(policy_copy)
    calls: list[int] = []
    real = cedarpy.is_authorized_batch

    def counted(requests: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        calls.append(len(requests))
        return real(requests, *args, **kwargs)

    monkeypatch.setattr(cedarpy, "is_authorized_batch", counted)
    target = TargetRef("orders-api", "dev")
    facts = {**DEFAULTS[EXECUTE], "run_mode": "autonomous", "actions_last_hour": 2}
    for _ in range(2):
        (verdict,) = policy.evaluate([Question(EXECUTE, AGENT_PLANNER, target, facts)])
        assert not verdict.safe_allowed and any("overflow" in e for e in verdict.errors)
    assert len(calls) >= 2  # Cedar asked every time
    twins = [Question(EXECUTE, AGENT_PLANNER, TargetRef(name, "dev"), facts) for name in ("orders-api", "billing-api")]
    assert all(not v.safe_allowed and v.errors for v in policy.evaluate(twins))
    calls.clear()
    quiet = {**facts, "actions_last_hour": 0}
    first, again = (policy.evaluate([Question(EXECUTE, AGENT_PLANNER, target, quiet)]) for _ in "12")
    assert first == again and first[0].safe_allowed
    assert calls == [1]  # the clean verdict was kept
