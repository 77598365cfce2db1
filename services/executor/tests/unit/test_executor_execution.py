"""Act, verify with evidence, roll back from the captured before-state, resume after a crash."""

from __future__ import annotations

import pytest
from warden_contracts.envelope import derived_id
from warden_contracts.events import ReportStatus
from warden_executor.domain.model import LedgerState

REPORTED = "sre.action.reported.v1"
ESCALATION = "sre.escalation.raised.v1"


def reports(publisher):
    return {e.data["status"]: e for e in publisher.of_type(REPORTED)}


async def test_success_is_reported_with_evidence_and_stable_ids(executor, policy, publisher, target, ledger, kit):
    action = policy.action()
    env = kit.approved(action)
    grant = kit.grant()

    assert await executor.handle(env, grant) is ReportStatus.VERIFIED

    assert publisher.statuses() == ["started", "verified"]
    started, verified = reports(publisher)["started"], reports(publisher)["verified"]
    assert started.data["evidence"]["grant_id"] == grant.grant_id
    assert started.data["evidence"]["grant_expires_at"] == grant.expires_at.isoformat()
    assert started.data["evidence"]["observed"]["memory_pct"] == 92.0
    assert verified.data["evidence"]["metrics"] == {"memory_pct": 35.0, "healthy": 1}
    assert verified.data["evidence"]["checks"] == ["memory_pct <= 75.0", "healthy >= 1.0"]
    assert verified.data["detail"] == "verified: memory_pct <= 75.0, healthy >= 1.0"
    for status, report in (("started", started), ("verified", verified)):
        assert report.id == derived_id(action.action_id, f"report/{status}")
        assert report.correlationid == env.correlationid and report.causationid == env.id
    assert target.calls == [("restart_service", "checkout", {}, "token-abc")]
    row = ledger.rows[action.action_id]
    assert (row.state, row.outcome, row.before["memory_pct"]) == (LedgerState.DONE, "verified", 92.0)
    assert publisher.of_type(ESCALATION) == []


async def test_verification_polls_until_the_target_recovers(executor, policy, publisher, target, clock, kit):
    def slow_recovery(view):
        view["memory_pct"] = max(view["memory_pct"] - 15.0, 10.0)

    target.services["checkout"]["memory_pct"] = 95.0
    target.effects["restart_service"] = lambda view, _: view.update(memory_pct=110.0)
    target.on_observe = slow_recovery

    await executor.handle(kit.approved(policy.action()), kit.grant())

    verified = reports(publisher)["verified"]
    # Preflight read 80 (95 - 15); after the restart 110 -> 95 -> 80 -> 65: three polls, 0.5 s apart.
    assert verified.data["evidence"]["attempts"] == 3
    assert verified.data["evidence"]["metrics"]["memory_pct"] == 65.0
    assert clock.slept == pytest.approx(1.0)


async def test_failed_verification_rolls_back_with_params_from_before_state(
    executor, policy, publisher, target, ledger, clock, kit
):
    action = policy.action("scale_service", "orders", {"replicas": 4})

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.ROLLED_BACK

    assert [c[:3] for c in target.calls] == [
        ("scale_service", "orders", {"replicas": 4}),
        ("scale_service", "orders", {"replicas": 2}),
    ]
    assert publisher.statuses() == ["started", "rolled_back"]
    rolled = reports(publisher)["rolled_back"]
    assert rolled.data["detail"] == (
        "verification failed within 30 s: queue_depth <= 1000.0 (observed 5000); "
        "rolled back with scale_service {'replicas': 2}"
    )
    assert rolled.data["evidence"]["rollback"]["after"]["replicas"] == 2
    assert rolled.data["evidence"]["failing"] == ["queue_depth <= 1000.0 (observed 5000)"]
    assert clock.slept >= 30
    [esc] = publisher.of_type(ESCALATION)
    assert esc.data["priority"] == "P1" and esc.data["incident_id"] == "inc-1"
    assert esc.id == derived_id(action.action_id, "escalation")
    timeline = " | ".join(esc.data["timeline"])
    for step in ("started scale_service", "verification failed", "rolled back with scale_service", "rolled_back"):
        assert step in timeline
    assert {e["tool"] for e in esc.data["evidence"]} >= {"observe", "act.before", "verify", "rollback.after"}
    assert ledger.rows[action.action_id].outcome == "rolled_back"


async def test_failed_rollback_deployment_returns_to_the_version_seen_before(executor, policy, publisher, target, kit):
    target.effects["rollback_deployment"] = lambda view, params: view.update(version=params["to_version"])

    await executor.handle(
        kit.approved(policy.action("rollback_deployment", "payments", {"to_version": "v1.9"})), kit.grant()
    )

    assert [c[2] for c in target.calls] == [{"to_version": "v1.9"}, {"to_version": "v2.0"}]
    assert publisher.statuses() == ["started", "rolled_back"]


async def test_failed_verification_without_rollback_recipe_fails_and_escalates(
    executor, policy, publisher, target, kit
):
    target.effects["restart_service"] = lambda view, _: None  # the restart does not help

    assert await executor.handle(kit.approved(policy.action()), kit.grant()) is ReportStatus.FAILED

    failed = reports(publisher)["failed"]
    assert failed.data["detail"].endswith("no rollback recipe")
    assert "memory_pct <= 75.0 (observed 92.0)" in failed.data["detail"]
    assert len(publisher.of_type(ESCALATION)) == 1
    assert "verified" not in publisher.statuses()


async def test_failed_act_call_fails_and_escalates_without_verifying(executor, policy, publisher, target, kit):
    target.fail_kinds.add("restart_service")

    await executor.handle(kit.approved(policy.action()), kit.grant())

    assert publisher.statuses() == ["started", "failed"]
    assert reports(publisher)["failed"].data["detail"] == (
        "restart_service call failed: restart_service on checkout: HTTP 500: simulated failure"
    )
    assert target.observations == 1  # the preflight read only
    [esc] = publisher.of_type(ESCALATION)
    assert any("call failed" in step for step in esc.data["timeline"])


async def test_failed_rollback_is_reported_failed(executor, policy, publisher, target, kit):
    original = target.effects["scale_service"]

    def scale_once(view, params):
        target.fail_kinds.add("scale_service")
        original(view, params)

    target.effects["scale_service"] = scale_once

    await executor.handle(kit.approved(policy.action("scale_service", "orders", {"replicas": 4})), kit.grant())

    assert publisher.statuses() == ["started", "failed"]
    assert "rollback scale_service {'replicas': 2} failed" in reports(publisher)["failed"].data["detail"]
    assert len(publisher.of_type(ESCALATION)) == 1


async def test_resume_after_interruption_verifies_without_acting_again(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    target.services["checkout"]["memory_pct"] = 30.0  # the restart ran before the crash

    assert await executor.handle(env, kit.grant()) is ReportStatus.VERIFIED

    assert target.calls == []
    verified = reports(publisher)["verified"]
    assert verified.data["detail"].startswith("resumed after interruption")
    assert verified.id == derived_id(action.action_id, "report/verified")
    assert ledger.rows[action.action_id].state is LedgerState.DONE


async def test_resume_that_fails_verification_rolls_back_from_the_stored_before_state(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action("scale_service", "orders", {"replicas": 4})
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("orders", replicas=3))
    await ledger.record_before(action.action_id, kit.healthy_view("orders", replicas=3))

    await executor.handle(env, kit.grant())

    assert [c[2] for c in target.calls] == [{"replicas": 3}]
    rolled = reports(publisher)["rolled_back"]
    assert rolled.data["detail"].startswith("resumed after interruption: verification failed")


async def test_redelivery_of_a_finished_action_publishes_nothing(executor, policy, publisher, target, kit):
    env = kit.approved(policy.action())
    await executor.handle(env, kit.grant())
    published = len(publisher.published)

    assert await executor.handle(env, kit.grant()) is None

    assert len(publisher.published) == published
    assert len(target.calls) == 1


async def test_unacknowledged_started_report_forgets_the_intent_and_does_not_act(
    executor, policy, publisher, target, ledger, kit
):
    async def broker_down(envelope):
        raise TimeoutError("no PubAck")

    publisher.publish = broker_down
    action = policy.action()

    with pytest.raises(TimeoutError):
        await executor.handle(kit.approved(action), kit.grant())

    assert target.calls == []
    assert action.action_id not in ledger.rows
