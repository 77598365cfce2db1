"""Every gate before anything is touched, in its fixed order, with the precise reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from warden_contracts.envelope import derived_id
from warden_contracts.events import ReportStatus
from warden_executor.domain.admission import CHANGED_SINCE_APPROVAL
from warden_executor.domain.model import LedgerState, TargetUnavailable

REPORTED = "sre.action.reported.v1"


def only_report(publisher):
    reports = publisher.of_type(REPORTED)
    assert len(reports) == 1, [r.data for r in reports]
    return reports[0]


async def test_action_signed_by_another_key_is_rejected(executor, publisher, target, ledger, kit):
    forged = kit.PolicySigner().action()
    env = kit.approved(forged)

    assert await executor.handle(env, kit.grant()) is ReportStatus.REJECTED

    report = only_report(publisher)
    assert report.data["status"] == "rejected"
    assert report.data["detail"] == f"unknown signing key {forged.key_id!r}"
    assert report.correlationid == "inc-1" and report.causationid == env.id
    assert target.calls == [] and target.observations == 0
    assert ledger.rows == {}  # a forgery must not block the real action id


async def test_signature_forged_under_the_trusted_key_id_is_rejected(executor, policy, publisher, target, kit):
    genuine = policy.action()
    forged = kit.PolicySigner().action(action_id=genuine.action_id).model_copy(update={"key_id": genuine.key_id})

    await executor.handle(kit.approved(forged), kit.grant())

    assert only_report(publisher).data["detail"] == "signature does not verify"
    assert target.calls == []


async def test_expired_action_is_rejected(executor, policy, publisher, target, kit):
    action = policy.action(not_after=kit.START - timedelta(seconds=1))

    await executor.handle(kit.approved(action), kit.grant())

    detail = only_report(publisher).data["detail"]
    assert detail.startswith("expired at 2026-11-02T08:59:59")
    assert target.calls == []


async def test_parameters_altered_after_signing_are_rejected(executor, policy, publisher, target, kit):
    signed = policy.action("scale_service", "orders", {"replicas": 3})
    altered = signed.model_copy(update={"params": {"replicas": 10}})

    await executor.handle(kit.approved(altered), kit.grant())

    assert only_report(publisher).data["detail"] == "parameters differ from the approved parameter hash"
    assert target.calls == []


async def test_replayed_action_id_never_runs_twice(executor, policy, publisher, target, kit):
    action = policy.action()
    first, replay = kit.approved(action), kit.approved(action)

    assert await executor.handle(first, kit.grant()) is ReportStatus.VERIFIED
    assert await executor.handle(replay, kit.grant()) is ReportStatus.REJECTED

    assert publisher.statuses() == ["started", "verified", "rejected"]
    rejected = publisher.of_type(REPORTED)[-1]
    assert rejected.data["detail"] == "replayed: already done"
    assert rejected.causationid == replay.id
    assert rejected.id == derived_id(action.action_id, f"report/rejected/{replay.id}")
    assert [c[0] for c in target.calls] == ["restart_service"]


async def test_replay_while_the_first_run_is_unfinished_is_refused(executor, policy, publisher, ledger, target, kit):
    action = policy.action()
    first = kit.approved(action)
    ledger.rows[action.action_id] = executor._entry(first, action, LedgerState.STARTED)

    await executor.handle(kit.approved(action), kit.grant())

    assert only_report(publisher).data["detail"] == "replayed: already started"
    assert target.calls == []


async def test_kill_switch_refuses_and_remembers(executor, policy, publisher, controls, ledger, target, kit):
    controls.engage()
    action = policy.action()

    await executor.handle(kit.approved(action), kit.grant())

    assert only_report(publisher).data["detail"] == "kill switch on (set by operator:alice)"
    assert target.calls == []
    assert ledger.rows[action.action_id].state is LedgerState.DONE
    assert ledger.rows[action.action_id].outcome == "rejected"


async def test_scoped_kill_switch_only_blocks_matching_targets(executor, policy, publisher, controls, kit):
    controls.engage("check*")

    await executor.handle(kit.approved(policy.action(target="checkout")), kit.grant())
    await executor.handle(
        kit.approved(policy.action("rollback_deployment", "payments", {"to_version": "v1.9"})), kit.grant()
    )

    details = [(r.data["target"], r.data["status"], r.data["detail"]) for r in publisher.of_type(REPORTED)]
    assert details[0] == ("checkout", "rejected", "kill switch on for check* (set by operator:alice)")
    assert [d[1] for d in details[1:]] == ["started", "verified"]


async def test_tier_3_is_human_only(executor, policy, publisher, target, kit):
    action = policy.action("failover_region", "checkout", tier=3)

    await executor.handle(kit.approved(action), kit.grant())

    detail = only_report(publisher).data["detail"]
    assert detail.startswith("tier 3 action 'failover_region' is human-only: never executed by the agent")
    assert target.calls == []


async def test_catalog_bounds_tier_and_denied_targets_are_checked(executor, policy, publisher, target, kit):
    await executor.handle(kit.approved(policy.action("scale_service", "orders", {"replicas": 50})), kit.grant())
    await executor.handle(kit.approved(policy.action("restart_service", "checkout", tier=0)), kit.grant())
    await executor.handle(kit.approved(policy.action("restart_service", "kube-system/dns")), kit.grant())
    await executor.handle(kit.approved(policy.action("delete_database", "orders")), kit.grant())

    details = [r.data["detail"] for r in publisher.of_type(REPORTED)]
    assert details == [
        "replicas: 50 is above the maximum 10",
        "signed tier 0 differs from the catalog tier 1",
        "target 'kube-system/dns' is on the do-not-touch list",
        "action kind 'delete_database' is not in the catalog",
    ]
    assert target.calls == []


async def test_gates_apply_in_order_signature_first(executor, policy, publisher, controls, kit):
    controls.engage()
    expired_tier3 = policy.action("failover_region", tier=3, not_after=kit.START - timedelta(minutes=1))

    await executor.handle(kit.approved(expired_tier3), kit.grant())

    assert only_report(publisher).data["detail"].startswith("expired at")


async def test_restart_of_an_unhealthy_instance_passes_the_preflight_with_normal_memory(
    executor, policy, publisher, target, kit
):
    target.services["checkout"].update(memory_pct=40.0, healthy=0)

    assert await executor.handle(kit.approved(policy.action()), kit.grant()) is ReportStatus.VERIFIED
    assert [c[0] for c in target.calls] == ["restart_service"]


async def test_unknown_target_is_rejected(executor, policy, publisher, kit):
    await executor.handle(kit.approved(policy.action(target="ghost")), kit.grant())

    assert only_report(publisher).data["detail"] == "target not found: unknown service ghost"


async def test_recovered_target_is_skipped(executor, policy, publisher, target, ledger, kit):
    target.services["checkout"]["memory_pct"] = 55.0
    action = policy.action()

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.SKIPPED

    report = only_report(publisher)
    assert report.data["status"] == "skipped"
    # A restart needs either problem it fixes: neither memory exhaustion nor a failing health check is left.
    assert report.data["detail"] == (
        f"{CHANGED_SINCE_APPROVAL}: memory_pct >= 80.0 no longer holds (observed 55.0); "
        "healthy <= 0.0 no longer holds (observed 1)"
    )
    assert report.data["evidence"]["observed"]["memory_pct"] == 55.0
    assert report.id == derived_id(action.action_id, "report/skipped")
    assert target.calls == []
    assert ledger.rows[action.action_id].outcome == "skipped"


async def test_rollback_to_the_version_already_running_is_skipped(executor, policy, publisher, target, kit):
    target.services["payments"]["version"] = "v1.9"

    await executor.handle(
        kit.approved(policy.action("rollback_deployment", "payments", {"to_version": "v1.9"})), kit.grant()
    )

    report = only_report(publisher)
    assert report.data["status"] == "skipped"
    assert report.data["detail"] == f"{CHANGED_SINCE_APPROVAL}: version is already 'v1.9'"
    assert target.calls == []


async def test_unreachable_target_is_retried_later_without_any_record(executor, policy, publisher, ledger, kit):
    class Unreachable:
        async def observe(self, target):
            raise TargetUnavailable(f"GET {target}: connection refused")

        async def act(self, *args):
            raise AssertionError("must not act")

    executor._target = Unreachable()

    with pytest.raises(TargetUnavailable, match="connection refused"):
        await executor.handle(kit.approved(policy.action()), kit.grant())

    assert publisher.published == [] and ledger.rows == {}
