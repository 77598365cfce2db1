"""After a crash: the ledger and the live target decide; an action runs at most once and is never lost."""

from __future__ import annotations

from datetime import timedelta

from warden_contracts.envelope import derived_id
from warden_contracts.events import ReportStatus
from warden_executor.domain.model import LedgerState

REPORTED = "sre.action.reported.v1"


def terminal(publisher):
    return [e for e in publisher.of_type(REPORTED) if e.data["status"] != "started"]


async def test_crash_before_the_started_ack_admits_again_and_acts_once(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)  # intent, not announced

    assert await executor.handle(env, kit.grant()) is ReportStatus.VERIFIED

    assert [c[0] for c in target.calls] == ["restart_service"]
    started, verified = publisher.of_type(REPORTED)
    assert started.id == derived_id(action.action_id, "report/started")  # the broker drops a second copy
    assert verified.data["evidence"]["recovery"] == "interrupted before the target was touched: admitted again"


async def test_crash_after_started_with_the_problem_still_visible_acts_once(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))

    assert await executor.handle(env, kit.grant()) is ReportStatus.VERIFIED

    assert [c[0] for c in target.calls] == ["restart_service"]
    [verified] = terminal(publisher)
    assert verified.data["detail"].startswith("resumed after interruption: verified")
    assert "never landed: acted once" in verified.data["evidence"]["recovery"]
    assert publisher.of_type(REPORTED)[0].data["status"] == "verified"  # no second `started`


async def test_kill_switch_engaged_during_the_outage_stops_the_retry_after_a_crash(
    executor, policy, publisher, target, ledger, controls, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    controls.engage("check*")

    assert await executor.handle(env, kit.grant()) is ReportStatus.REJECTED

    assert target.calls == []
    [rejected] = terminal(publisher)
    assert rejected.data["detail"] == "resumed after interruption: kill switch on for check* (set by operator:alice)"
    assert ledger.rows[action.action_id].state is LedgerState.DONE


async def test_approval_expired_during_the_outage_still_verifies_but_never_acts_again(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action(not_after=kit.START - timedelta(seconds=1))  # lapsed while the executor was down
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    target.services["checkout"].update(memory_pct=35.0)  # the restart had landed before the crash

    assert await executor.handle(env, kit.grant()) is ReportStatus.VERIFIED

    assert target.calls == []
    [verified] = terminal(publisher)
    assert verified.data["evidence"]["recovery"].startswith("the approval expired during the interruption")
    assert ledger.rows[action.action_id].state is LedgerState.DONE


async def test_expired_replay_of_an_interrupted_action_is_still_refused(executor, policy, publisher, ledger, kit):
    action = policy.action(not_after=kit.START - timedelta(seconds=1))
    ledger.rows[action.action_id] = executor._entry(kit.approved(action), action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    other = kit.approved(action)  # the same action in another message

    assert await executor.handle(other, kit.grant()) is ReportStatus.REJECTED
    assert terminal(publisher)[0].data["detail"].startswith("expired at")


async def test_crash_after_the_target_changed_verifies_without_acting(executor, policy, publisher, target, ledger, kit):
    action = policy.action("rollback_deployment", "payments", {"to_version": "v1.9"})
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("payments", version="v2.0", error_rate=0.2))
    target.services["payments"].update(version="v1.9", error_rate=0.001)  # the rollback had landed

    assert await executor.handle(env, kit.grant()) is ReportStatus.VERIFIED

    assert target.calls == []
    [verified] = terminal(publisher)
    assert verified.data["evidence"]["recovery"].startswith("the target no longer shows the approved problem")


async def test_unobservable_action_is_never_repeated_after_a_crash(executor, policy, publisher, target, ledger, kit):
    target.services["payments"]["cert_days_left"] = 5
    action = policy.action("renew_certificate", "payments", tier=2)
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, dict(target.services["payments"]))

    assert await executor.handle(env, kit.grant()) is ReportStatus.FAILED

    assert target.calls == []
    failed, escalation = publisher.published
    assert "cannot be observed: verified only, never acted twice" in failed.data["evidence"]["recovery"]
    assert escalation.type == "sre.escalation.raised.v1"


async def test_startup_recovery_finishes_unfinished_actions_from_the_ledger(
    coordinator, elevation, executor, policy, publisher, target, ledger, journal, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    await journal.opened("drain-of-the-dead-process", "action x (doorbell)")

    result = await coordinator.recover()

    assert result is not None and result.elevated and result.retry is None
    assert elevation.justifications == [f"recovery after restart (unfinished actions: {action.action_id})"]
    assert [c[0] for c in target.calls] == ["restart_service"]
    assert ledger.rows[action.action_id].state is LedgerState.DONE
    assert journal.open == {}
    assert elevation.released and elevation.active == 0
    # The broker's redelivery of the same message later is acknowledged without acting again.
    assert await executor.handle(env, kit.grant()) is None
    assert len(target.calls) == 1


async def test_nothing_to_recover_means_no_elevation(coordinator, elevation):
    assert await coordinator.recover() is None
    assert elevation.justifications == []


async def test_drain_waits_for_messages_a_dead_process_left_unacknowledged(
    coordinator, source, policy, target, journal, kit
):
    source.orphaned.append(kit.approved(policy.action()))
    await journal.opened("drain-of-the-dead-process", "action x (doorbell)")

    result = await coordinator.recover()

    assert result is not None and result.handled == 1 and result.detail == "queue empty"
    assert [c[0] for c in target.calls] == ["restart_service"]


async def test_drain_once_recovers_then_drains_until_empty(coordinator, source, policy, target, elevation, kit):
    source.queue += [
        kit.approved(policy.action()),
        kit.approved(policy.action("scale_service", "checkout", {"replicas": 4})),
    ]

    result = await coordinator.drain_until_empty()

    assert result.elevated and result.retry is None and result.handled == 2
    assert elevation.justifications == ["drain-once run"]
    assert sorted(c[0] for c in target.calls) == ["restart_service", "scale_service"]


async def test_drain_once_under_the_kill_switch_does_not_elevate(coordinator, controls, elevation, source, policy, kit):
    controls.engage()
    source.queue.append(kit.approved(policy.action()))

    result = await coordinator.drain_until_empty()

    assert not result.elevated and elevation.justifications == [] and len(source.queue) == 1


async def test_target_gone_after_a_crash_fails_and_escalates_instead_of_retrying_forever(
    executor, policy, publisher, target, ledger, kit
):
    action = policy.action()
    env = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(env, action, LedgerState.STARTED)
    await ledger.announce(action.action_id, kit.healthy_view("checkout", memory_pct=92.0))
    del target.services["checkout"]

    assert await executor.handle(env, kit.grant()) is ReportStatus.FAILED

    failed, escalation = publisher.published
    assert failed.data["detail"].startswith("resumed after interruption: target not found")
    assert escalation.type == "sre.escalation.raised.v1"
    assert ledger.rows[action.action_id].state is LedgerState.DONE
