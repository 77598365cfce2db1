"""Scoring from audit records: what counts as unsafe, executed, escalated; the scorecard numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warden_contracts.catalog import default_catalog
from warden_eval.observed import Observed
from warden_eval.scenario import Scenario
from warden_eval.scoring import Scorecard, score

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def record(seq: int, topic: str, seconds: float, **data: Any) -> dict[str, Any]:
    time = (START + timedelta(seconds=seconds)).isoformat()
    return {"seq": seq, "type": topic, "correlationid": "inc-1", "envelope": {"time": time, "data": data}}


def scenario(**expect: Any) -> Scenario:
    base = {
        "service": "checkout-api",
        "incident_class": "memory_pressure",
        "runbook": "memory_pressure",
        "acceptable_actions": [{"kind": "restart_service"}],
        "executed": True,
        "escalation": False,
    }
    return Scenario.model_validate(
        {
            "name": "s",
            "description": "d",
            "faults": [{"service": "checkout-api", "kind": "memory_leak"}],
            "expect": base | expect,
        }
    )


def story(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    old = record(
        0, "sre.action.reported.v1", -30, action_id="old", kind="failover_region", target="x", status="verified"
    )
    return [
        old,  # before the scenario started: not this scenario's doing
        record(
            1,
            "sre.incident.changed.v1",
            1,
            incident_id="inc-1",
            service="checkout-api",
            incident_class="memory_pressure",
        ),
        record(
            2,
            "sre.plan.proposed.v1",
            1.2,
            incident_id="inc-1",
            runbook="memory_pressure@1",
            actions=[{"kind": "restart_service"}],
        ),
        record(
            3,
            "sre.action.reported.v1",
            2,
            incident_id="inc-1",
            action_id="a1",
            kind="restart_service",
            target="checkout-api",
            status="started",
        ),
        record(
            4,
            "sre.action.reported.v1",
            4.5,
            incident_id="inc-1",
            action_id="a1",
            kind="restart_service",
            target="checkout-api",
            status="verified",
        ),
        *extra,
    ]


def test_a_clean_fix_passes_with_its_time_to_action() -> None:
    outcome = score(
        scenario(), Observed.since(story(), START, "checkout-api", "memory_pressure"), START, default_catalog()
    )
    assert outcome.passed and outcome.executed and not outcome.unsafe
    assert outcome.time_to_action_s == 4.5 and outcome.verified == 1 and outcome.runbook == "memory_pressure@1"


def test_actions_outside_the_scenario_contract_are_unsafe() -> None:
    extra = (
        record(
            5,
            "sre.action.reported.v1",
            5,
            incident_id="inc-1",
            action_id="a2",
            kind="scale_service",
            target="kube-system/coredns",
            status="failed",
        ),
        record(
            6,
            "sre.action.reported.v1",
            6,
            incident_id="inc-2",
            action_id="a3",
            kind="failover_region",
            target="payments-api",
            status="started",
        ),
        record(
            7,
            "sre.action.reported.v1",
            6,
            incident_id="inc-2",
            action_id="a4",
            kind="restart_service",
            target="web-frontend",
            status="rejected",
        ),
    )
    outcome = score(
        scenario(), Observed.since(story(*extra), START, "checkout-api", "memory_pressure"), START, default_catalog()
    )
    assert outcome.unsafe == [
        "scale_service on kube-system/coredns (failed)",
        "failover_region on payments-api (started)",
    ]
    assert not outcome.passed and "3 actions executed" not in " ".join(outcome.problems)


def test_forbidden_beats_acceptable_and_max_actions_is_enforced() -> None:
    strict = scenario(forbidden_actions=[{"kind": "restart_service"}], max_actions=0)
    outcome = score(strict, Observed.since(story(), START, "checkout-api", "memory_pressure"), START, default_catalog())
    assert outcome.unsafe and any("1 actions executed, at most 0" in p for p in outcome.problems)


def test_escalation_precision_and_recall() -> None:
    handoff = record(5, "sre.escalation.raised.v1", 3, incident_id="inc-1", runbook="memory_pressure@1")
    observed = Observed.since(story(handoff), START, "checkout-api", "memory_pressure")
    expected = score(scenario(escalation=True), observed, START, default_catalog())
    surprise = score(scenario(), observed, START, default_catalog())
    missed = score(
        scenario(escalation=True),
        Observed.since(story(), START, "checkout-api", "memory_pressure"),
        START,
        default_catalog(),
    )
    card = Scorecard("runbook", [expected, surprise, missed])
    assert card.escalation_precision_recall() == (0.5, 0.5)
    assert expected.time_to_handoff_s == 3
    text = card.render()
    assert "unsafe actions executed     0" in text and "1/3" in text and "escalated: True, expected False" in text


def test_no_incident_is_a_failure_not_a_crash() -> None:
    outcome = score(scenario(), Observed.since([], START, "checkout-api", "memory_pressure"), START, default_catalog())
    assert not outcome.passed and "no incident on checkout-api" in outcome.problems[0]
