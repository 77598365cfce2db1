"""The executor checks approvals itself: a policy-signed action whose tier or environment needs a
human must carry the verified approvals (ids, token hashes, at least M) in its signed body."""

from __future__ import annotations

import base64

import pytest
from warden_contracts.events import ApprovalProof, ReportStatus
from warden_executor.domain.admission import approval_problems, approvals_needed
from warden_executor.domain.model import LedgerState
from warden_security.action_signing import approval_proof, signing_input

REPORTED = "sre.action.reported.v1"
ALICE, BOB = approval_proof("alice", "token-of-alice"), approval_proof("bob", "token-of-bob")


def rejected_detail(publisher) -> str:
    [report] = publisher.of_type(REPORTED)
    assert report.data["status"] == "rejected", report.data
    return report.data["detail"]


async def test_issue_attack_policy_signed_tier1_prod_scale_without_approvers_is_refused_and_audited(
    executor, policy, publisher, target, ledger, kit
):
    # What the issue ran: scale 3 -> 4 in prod, signed with the real policy key, nobody approved,
    # for an incident that never existed.
    action = policy.action(
        "scale_service", "orders", {"replicas": 4}, incident_id="inc-never-existed", environment="prod", approvals=[]
    )
    assert action.tier == 1 and action.approvers == []

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.REJECTED

    detail = rejected_detail(publisher)
    assert detail == (
        "approval missing: tier 1 in prod needs 1 verified approval(s) (policy signed M=0), the signed action carries 0"
    )
    [report] = publisher.of_type(REPORTED)  # the refusal is on the topic audit records
    assert report.correlationid == "inc-never-existed" and report.data["target"] == "orders"
    assert target.calls == [] and target.services["orders"]["replicas"] == 2
    assert ledger.rows[action.action_id].state is LedgerState.DONE  # never retried


@pytest.mark.parametrize(
    ("environment", "kind", "target_name", "params", "expected"),
    [
        (None, "restart_service", "checkout", {}, "tier 1 in an unknown environment needs 1"),
        ("unknown", "restart_service", "checkout", {}, "tier 1 in unknown needs 1"),
        ("dev", "rollback_deployment", "payments", {"to_version": "v1.9"}, "tier 2 in dev needs 1"),
    ],
    ids=["no-environment-signed", "unknown-environment", "tier-2-outside-prod"],
)
async def test_no_approvals_where_a_human_is_required_is_refused(
    executor, policy, publisher, target, kit, environment, kind, target_name, params, expected
):
    action = policy.action(kind, target_name, params, environment=environment, approvals=[], required_approvals=0)

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.REJECTED

    assert expected in rejected_detail(publisher)
    assert target.calls == []


async def test_fewer_approvals_than_the_signed_m_of_n_is_refused(executor, policy, publisher, target, kit):
    action = policy.action(
        "rollback_deployment", "payments", {"to_version": "v1.9"}, environment="prod", required_approvals=2
    )

    await executor.handle(kit.approved(action), kit.grant())

    assert "needs 2 verified approval(s) (policy signed M=2), the signed action carries 1" in rejected_detail(publisher)
    assert target.calls == []


async def test_one_approver_counted_twice_is_refused(executor, policy, publisher, target, kit):
    twice = [ALICE, approval_proof("alice", "a second token of alice")]
    action = policy.action(
        "rollback_deployment",
        "payments",
        {"to_version": "v1.9"},
        environment="prod",
        approvals=twice,
        required_approvals=2,
    )

    await executor.handle(kit.approved(action), kit.grant())

    detail = rejected_detail(publisher)
    assert "an approver is listed twice" in detail and "carries 1" in detail
    assert target.calls == []


async def test_an_approval_without_a_token_hash_does_not_count(executor, policy, publisher, target, kit):
    action = policy.action(environment="prod", approvals=[ApprovalProof(approver="alice", token_sha256="")])

    await executor.handle(kit.approved(action), kit.grant())

    detail = rejected_detail(publisher)
    assert "approvals without an identity-token hash: alice" in detail and "carries 0" in detail
    assert target.calls == []


async def test_approvals_added_after_signing_break_the_signature(executor, policy, publisher, target, kit):
    action = policy.action(environment="prod", approvals=[])
    padded = action.model_copy(update={"approvals": [ALICE], "approvers": ["alice"]})

    await executor.handle(kit.approved(padded), kit.grant())

    assert rejected_detail(publisher) == "signature does not verify"
    assert target.calls == []


async def test_tier_1_outside_prod_without_approvals_runs_autonomously(executor, policy, publisher, target, kit):
    action = policy.action(environment="dev", approvals=[], required_approvals=0)

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.VERIFIED
    assert [c[0] for c in target.calls] == ["restart_service"]


async def test_two_of_two_in_prod_runs(executor, policy, publisher, target, kit):
    action = policy.action(
        "rollback_deployment",
        "payments",
        {"to_version": "v1.9"},
        environment="prod",
        approvals=[ALICE, BOB],
        required_approvals=2,
    )

    assert await executor.handle(kit.approved(action), kit.grant()) is ReportStatus.VERIFIED
    assert [c[0] for c in target.calls] == ["rollback_deployment"]


def test_signed_approvers_that_differ_from_the_approvals_are_named(policy):
    action = policy.action(environment="prod", approvals=[ALICE])
    mismatched = action.model_copy(update={"approvers": ["alice", "bob"]})
    # Re-signed by the policy key: the body itself is inconsistent, not tampered in transit.
    resigned = mismatched.model_copy(
        update={"signature": base64.b64encode(policy.signer.sign(signing_input(mismatched))).decode()}
    )
    assert approval_problems(resigned) == ["the signed approvers differ from the signed approvals"]


@pytest.mark.parametrize(
    ("tier", "environment", "required", "needed"),
    [(0, "dev", 0, 0), (1, "staging", 0, 0), (1, "prod", 0, 1), (0, "prod", 0, 1), (2, "dev", 0, 1), (2, "prod", 2, 2)],
)
def test_the_rule_is_derived_from_the_signed_body(policy, tier, environment, required, needed):
    action = policy.action(tier=tier, environment=environment, approvals=[], required_approvals=required)
    assert approvals_needed(action) == needed
