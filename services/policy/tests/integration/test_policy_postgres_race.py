"""Two policy replicas on one database (a PostgreSQL schema, or one SQLite file), racing on the
same approval: optimistic concurrency lets exactly one decision win, and at most one signed action
ever leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ApprovalDecision,
    DecisionOutcome,
    IncidentChanged,
    IncidentState,
    PolicyDecided,
    Severity,
)
from warden_policy.domain.approvals import ApprovalState

ROUNDS = 8


@pytest.fixture
async def replicas(replica_world: Callable[[], Any]) -> AsyncIterator[tuple[Any, Any]]:
    first, second = replica_world(), replica_world()
    await first.store.open()
    await second.store.open()
    second.now = first.now
    yield first, second
    await first.store.close()
    await second.store.close()


def outcomes(out: list[Envelope]) -> list[DecisionOutcome]:
    return [e.payload(PolicyDecided).outcome for e in out if e.type == "sre.policy.decided.v1"]


def signed(out: list[Envelope]) -> list[Envelope]:
    return [e for e in out if e.type == "sre.action.approved.v1"]


async def test_policy_two_replicas_gate_the_same_plan_once(replicas, make_plan) -> None:
    first, second = replicas
    for round_ in range(ROUNDS):
        plan = make_plan(
            incident_class="elevated_error_rate",
            kind="rollback_deployment",
            params={"to_version": "v1"},
            target=f"svc-{round_}",
        )
        a, b = await asyncio.gather(first.gate.handle(plan), second.gate.handle(plan))
        assert [e.id for e in a] == [e.id for e in b]  # the loser returns the winner's stored outbox
        requests = [e for e in a if e.type == "sre.approval.requested.v1"]
        assert len(requests) == 1
        assert len(await first.store.pending_for_incident(plan.data["incident_id"])) == 1


@pytest.mark.parametrize("rival", ["deny", "supersede"])
async def test_policy_two_replicas_race_on_one_approval(replicas, make_plan, issue_token, make_decision, rival) -> None:
    first, second = replicas
    for round_ in range(ROUNDS):
        plan = make_plan(
            incident_class="elevated_error_rate",
            kind="rollback_deployment",
            params={"to_version": "v1"},
            target=f"svc-{round_}",
        )
        request = await first.request(plan)
        binding = {"approval_id": request.approval_id, "action_hash": request.action_hash}
        approve = make_decision(request.approval_id, issue_token("alice", groups=["sre-oncall"], **binding))
        if rival == "deny":
            other = make_decision(
                request.approval_id, issue_token("bob", groups=["sre-leads"], **binding), ApprovalDecision.DENY
            )
            race = second.desk.decide(other)
        else:
            resolved = IncidentChanged(
                incident_id=request.incident_id,
                change=IncidentState.RESOLVED,
                incident_class="elevated_error_rate",
                title="t",
                service=f"svc-{round_}",
                resource_id="r",
                environment="dev",
                severity=Severity.SEV2,
                fingerprint="f",
                alert_count=1,
                opened_at=first.now,
            )
            other = envelope_for(
                "sre.incident.changed.v1", resolved, source="warden/triage", correlationid=request.incident_id
            )
            race = second.desk.supersede(other)
        approved_out, rival_out = await asyncio.gather(first.desk.decide(approve), race)

        final = await first.store.get_approval(request.approval_id)
        assert final is not None and final.version == 2  # exactly one transition was written
        won = final.state is ApprovalState.APPROVED
        assert len(signed(approved_out)) == (1 if won else 0)
        assert signed(rival_out) == []
        if won:
            assert outcomes(approved_out) == [DecisionOutcome.APPROVED]
            assert DecisionOutcome.DENIED not in outcomes(rival_out)
            assert DecisionOutcome.SUPERSEDED not in outcomes(rival_out)
        else:
            assert final.state in (ApprovalState.DENIED, ApprovalState.SUPERSEDED)
            assert outcomes(approved_out) == [DecisionOutcome.REJECTED_APPROVAL]
