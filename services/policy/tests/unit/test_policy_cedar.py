"""The Cedar policy as shipped and as changed: it validates, its own cases pass, errors fail
closed, and a replay over recorded history shows what a change would have decided differently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ControlChanged, ControlKind, DecisionOutcome, PolicyDecided, ProposedAction
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.domain.evaluation import PolicyError
from warden_policy.domain.model import AccessLevel, Controls, InvalidControl, parse_control
from warden_policy.domain.rules import Counts, DecisionRequest, GateRules
from warden_policy.policy_suite import load_cases, run_cases
from warden_policy.replay import replay

PLANS = load_policy_config().plans
DECIDED = "sre.policy.decided.v1"


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    shipped = resources.files("warden_policy").joinpath("cedar")
    target = tmp_path / "cedar"
    target.mkdir()
    for entry in shipped.iterdir():
        (target / entry.name).write_text(entry.read_text())
    return target


def test_policy_shipped_cases_all_pass() -> None:
    _, suite = load_cases()
    results = run_cases(CedarPolicy(), suite)
    assert len(results) >= 25 and all(r.passed for r in results), [r.case.name for r in results if not r.passed]


def test_policy_suite_catches_a_weakened_policy(policy_copy: Path) -> None:
    gate = policy_copy / "gate.cedar"
    gate.write_text(gate.read_text().replace('resource.environment == "prod"', 'resource.environment == "prd"'))
    results = run_cases(CedarPolicy(policy_copy), load_cases(policy_copy)[1])
    assert [r.case.name for r in results if not r.passed] == ["production is pinned to review"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('@reason("the kill switch is on: no action may run")\n', ""), "@id and @reason"),
        (lambda t: t.replace("context.kill_switch }", "context.kill_swich }"), "does not validate"),
        (lambda t: t + "\npermit (principal, action, resource) when {", "invalid Cedar policy"),
        (lambda t: t.replace('@outcome("handoff")\nforbid', '@outcome("maybe")\nforbid', 1), "@outcome must be"),
    ],
)
def test_policy_broken_policy_stops_the_service(policy_copy: Path, edit: Any, message: str) -> None:
    gate = policy_copy / "gate.cedar"
    gate.write_text(edit(gate.read_text()))
    with pytest.raises(PolicyError, match=message):
        CedarPolicy(policy_copy)


def test_policy_evaluation_error_fails_closed(policy_copy: Path) -> None:
    # Validates, but overflows at run time: Cedar skips an erroring forbid, the gate must not.
    (policy_copy / "overflow.cedar").write_text(
        '@id("overflowing_guard")\n@reason("a guard with a bug")\n'
        'forbid (principal, action == Warden::Action::"execute", resource)\n'
        "when { context.actions_last_hour * 9223372036854775807 > 1 };\n"
    )
    rules = GateRules(default_catalog(), PLANS, CedarPolicy(policy_copy))
    action = ProposedAction(action_id="a", kind="restart_service", target="t", params={}, rationale="r", confidence=1)
    request = DecisionRequest(
        incident_id="i",
        incident_class="memory_pressure",
        environment="dev",
        action=action,
        controls=Controls(),
        now=datetime.now(UTC),
        counts=Counts(last_hour=2),
    )
    decision = rules.decide(request)
    assert decision.outcome is DecisionOutcome.REFUSED
    assert any(r.startswith("policy_error:") and "overflow" in r for r in decision.reasons), decision.reasons


def test_policy_controls_it_cannot_honour_are_errors() -> None:
    with pytest.raises(InvalidControl, match="scope"):
        parse_control(ControlKind.PLAN_RUN_MODE, "autonomous", "global", "ops")
    with pytest.raises(InvalidControl, match="shadow, review or autonomous"):
        parse_control(ControlKind.PLAN_RUN_MODE, "yolo", "plan:x", "ops")
    with pytest.raises(InvalidControl, match="on or off"):
        parse_control(ControlKind.FREEZE, "maybe", "env:prod", "ops")
    assert parse_control(ControlKind.FREEZE, "ON", "env:prod", "ops").scope == "environment:prod"
    assert parse_control(ControlKind.INCIDENT_OWNER, "Erin", "incident:inc-1", "ops").value == "Erin"


def _record(seq: int, envelope: Envelope) -> dict[str, Any]:
    return {"seq": seq, "envelope": json.loads(envelope.to_bytes())}


def test_policy_replay_shows_what_a_changed_policy_decides_differently(policy_copy: Path, make_plan) -> None:
    plans = [make_plan(), make_plan(incident_class="elevated_error_rate", target="orders-api"), make_plan()]
    recorded = ["execute", "await_approval", "refused"]
    records = [
        _record(
            0,
            envelope_for(
                "sre.control.changed.v1",
                ControlChanged(kind=ControlKind.KILL_SWITCH, value="off", changed_by="ops"),
                source="o",
                correlationid="o",
            ),
        )
    ]
    for plan, outcome in zip(plans, recorded, strict=True):
        data = plan.data
        action = data["actions"][0]
        decided = PolicyDecided(
            incident_id=data["incident_id"],
            action_id=action["action_id"],
            kind=action["kind"],
            target=action["target"],
            tier=1,
            run_mode="x",
            outcome=DecisionOutcome(outcome),
        )
        records += [
            _record(len(records), plan),
            _record(
                len(records) + 1, envelope_for(DECIDED, decided, source="p", correlationid="c", causationid=plan.id)
            ),
        ]
    # The change under review: nothing runs without a human any more.
    gate = policy_copy / "gate.cedar"
    gate.write_text(gate.read_text().replace("context.tier <= 1 };", "context.tier <= 0 };", 1))
    rules = GateRules(default_catalog(), PLANS, CedarPolicy(policy_copy))
    since = datetime.now(UTC) - timedelta(hours=1)
    report = replay(records, since, rules, AccessLevel.PRIVILEGED)
    assert report.proposals == 3 and report.skipped == []
    changes = [(d.recorded, d.replayed) for d in report.differences]
    assert changes == [("execute", "await_approval"), ("refused", "await_approval")]
    assert replay(records, datetime.now(UTC) + timedelta(hours=1), rules, AccessLevel.PRIVILEGED).proposals == 0


def test_facts_of_a_new_type_are_checked_against_the_schema_again() -> None:
    """Requests skip the schema check only for a shape (fact names and value types) the schema
    has accepted; a fact whose type changes is checked, and refused, as on the first call."""
    from warden_policy.domain.evaluation import AGENT, EXECUTE, Principal, Question, TargetRef

    policy = CedarPolicy()
    rules = GateRules(default_catalog(), PLANS, policy)
    action = ProposedAction(action_id="a", kind="restart_service", target="t", params={}, rationale="r", confidence=1)
    request = DecisionRequest("i", "memory_pressure", "dev", action, Controls(), datetime.now(UTC))
    first, again = rules.decide(request), rules.decide(request)
    assert first.outcome is again.outcome is DecisionOutcome.EXECUTE and first.reasons == again.reasons

    facts = dict(rules.questions(request, 1, first.run_mode, _choice(request))[0].facts)
    facts["tier"] = "1"  # a string where the schema wants a Long
    verdict = policy.evaluate([Question(EXECUTE, Principal(AGENT, "warden-planner"), TargetRef("t", "dev"), facts)])[0]
    assert not verdict.safe_allowed and any("is not valid for" in e for e in verdict.errors)
    # ... and a refused shape is never taken as checked: the next such request is refused too.
    assert policy.evaluate([Question(EXECUTE, Principal(AGENT, "warden-planner"), TargetRef("t", "dev"), facts)])[
        0
    ].errors


def _choice(request: DecisionRequest) -> Any:
    from warden_policy.domain.rules import choose_mode

    return choose_mode(PLANS, request)
