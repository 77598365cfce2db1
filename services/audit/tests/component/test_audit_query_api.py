"""The audit service's query API on a real broker: approvals with the verified approver, actions,
an incident's records and its proof bundle, which verifies offline with the audit public key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from warden_audit.adapters.ed25519_signer import trusted_key_files
from warden_audit.app import create_app
from warden_audit.proofs import verify_bundle
from warden_audit.reader import read_records
from warden_bus.runtime import ServiceRuntime
from warden_contracts.canonical import action_hash
from warden_contracts.envelope import envelope_for
from warden_contracts.events import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequested,
    DecisionOutcome,
    PolicyDecided,
    ProposedAction,
    TaskFinding,
    TaskReported,
)
from warden_security.keys import load_or_create_private_key
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer
from warden_testkit.bus import EmbeddedBroker

INCIDENT = "inc-42"
ACTION = ProposedAction(
    action_id="act-1",
    kind="rollback_deployment",
    target="payments-api",
    params={"to_version": "v3.1.0"},
    rationale="bad deploy",
    confidence=0.9,
)


@pytest.fixture
async def service(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    load_or_create_private_key(tmp_path / "keys" / "approver-issuer.pem")  # audit finds its public half
    app = create_app(nats_url=broker.url, nats_creds=broker.creds("audit"), data_dir=tmp_path, http_port=0)
    await app.start()
    try:
        yield app, f"http://127.0.0.1:{app.bound_port}"
    finally:
        await app.stop()


async def publish_approval_story(broker: EmbeddedBroker, data_dir: Path) -> None:
    policy, approver = broker.bus("policy"), broker.bus("approver")
    await policy.start()
    await approver.start()
    try:
        request = ApprovalRequested(
            approval_id="ap-1",
            incident_id=INCIDENT,
            action=ACTION,
            action_hash=action_hash(ACTION.kind, ACTION.target, ACTION.params),
            tier=2,
            environment="prod",
            summary="roll back",
            reversible=True,
            rollback_plan="redeploy",
            blast_radius="payments-api",
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
            requested_by="warden-planner",
        )
        await policy.publish(
            envelope_for("sre.approval.requested.v1", request, source="warden/policy", correlationid=INCIDENT)
        )
        issuer = TokenIssuer(
            load_or_create_private_key(data_dir / "keys" / "approver-issuer.pem"), LOCAL_APPROVER_ISSUER
        )
        token = issuer.issue("alice", APPROVAL_AUDIENCE, 300, groups=["sre-leads"], approval_id="ap-1")
        decided = ApprovalDecided(
            approval_id="ap-1",
            decision=ApprovalDecision.APPROVE,
            reason="paged by +44 7700 900123",
            identity_token=token,
        )
        await approver.publish(
            envelope_for("sre.approval.decided.v1", decided, source="warden/cli/alice", correlationid=INCIDENT)
        )
        outcome = PolicyDecided(
            incident_id=INCIDENT,
            action_id="act-1",
            kind=ACTION.kind,
            target=ACTION.target,
            tier=2,
            run_mode="review",
            outcome=DecisionOutcome.APPROVED,
            approval_id="ap-1",
            approvers=["alice"],
            reasons=["tier 2 needs one approver"],
        )
        await policy.publish(
            envelope_for("sre.policy.decided.v1", outcome, source="warden/policy", correlationid=INCIDENT)
        )
    finally:
        await policy.stop()
        await approver.stop()


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def wait_for_records(audit_dir: Path, count: int) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        found = list(read_records(audit_dir)) if audit_dir.exists() else []
        if len(found) >= count:
            return found
        assert loop.time() < deadline, f"only {len(found)} records"
        await asyncio.sleep(0.1)


async def test_approvals_actions_and_bundle_over_http(
    broker: EmbeddedBroker, tmp_path: Path, service: tuple[ServiceRuntime, str]
) -> None:
    _, base = service
    await publish_approval_story(broker, tmp_path)
    records = await wait_for_records(tmp_path / "audit", 3)
    decided = next(r for r in records if r["type"] == "sre.approval.decided.v1")
    assert decided["actor"]["identity"] == "approver"
    assert decided["actor"]["principal"] | {"token_id": "x"} == {
        "id": "alice",
        "kind": "human",
        "issuer": LOCAL_APPROVER_ISSUER,
        "groups": ["sre-leads"],
        "token_id": "x",
        "verified": True,
    }
    assert decided["envelope"]["data"]["reason"] == "paged by +44 7700 900123"  # resolved for readers
    raw = (tmp_path / "audit" / "segments" / "000001.jsonl").read_bytes()
    assert b"7700 900123" not in raw  # ... but never in the chain itself

    [approval] = (await get_json(f"{base}/v1/audit/approvals?approver=alice"))["approvals"]
    assert (approval["approval_id"], approval["state"], approval["approvers"]) == ("ap-1", "approved", ["alice"])
    assert approval["decisions"][0]["approver"]["verified"] is True
    assert (await get_json(f"{base}/v1/audit/approvals?approver=bob"))["approvals"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await get_json(f"{base}/v1/audit/approvals?since={future.replace('+00:00', 'Z')}"))["approvals"] == []
    [action] = (await get_json(f"{base}/v1/audit/actions?incident={INCIDENT}"))["actions"]
    assert [d["outcome"] for d in action["decisions"]] == ["approved"]

    bundle = await get_json(f"{base}/v1/audit/incidents/{INCIDENT}/bundle")
    # Topics are separate streams: their relative order in the chain is the order audit saw them.
    assert sorted(r["type"] for r in bundle["records"]) == [
        "sre.approval.decided.v1",
        "sre.approval.requested.v1",
        "sre.policy.decided.v1",
    ]
    report = verify_bundle(bundle, trusted_key_files([tmp_path / "keys" / "audit-signing.pub.pem"]))
    assert report.ok, report.problems
    head = await get_json(f"{base}/v1/audit/head")
    assert head["seq"] == 3 and head["checkpoint"]["seq"] == 3
    listed = await get_json(f"{base}/v1/audit/incidents/{INCIDENT}/records")
    assert len(listed["records"]) == 3


async def test_bad_query_parameters_get_a_clear_400(service: tuple[ServiceRuntime, str]) -> None:
    _, base = service
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/v1/audit/approvals?since=yesterday") as response:
            assert response.status == 400
            assert "ISO 8601" in await response.text()
        async with session.get(f"{base}/v1/audit/approvals?since=2026-11-21T10:00:00") as response:
            assert response.status == 400
        async with session.get(f"{base}/v1/audit/incidents/nope/bundle") as response:
            assert response.status == 404


async def test_records_by_message_type_newest_last_with_limit(
    broker: EmbeddedBroker, tmp_path: Path, service: tuple[ServiceRuntime, str]
) -> None:
    _, base = service
    await publish_approval_story(broker, tmp_path)
    planner = broker.bus("planner")
    await planner.start()
    try:
        for run in range(3):
            report = TaskReported(
                task="daily-health",
                run_id=f"run-{run}",
                kind="health_check",
                status="completed",
                summary=f"health check {run}",
                scheduled_for=datetime.now(UTC),
                findings=[TaskFinding(subject="payments-api", severity="warning", summary="error rate 4%")],
            )
            await planner.publish(
                envelope_for("sre.task.reported.v1", report, source="warden/planner", correlationid=f"run-{run}")
            )
    finally:
        await planner.stop()
    await wait_for_records(tmp_path / "audit", 6)

    every = await get_json(f"{base}/v1/audit/records?type=sre.task.reported.v1")
    assert [r["envelope"]["data"]["run_id"] for r in every["records"]] == ["run-0", "run-1", "run-2"]
    newest = await get_json(f"{base}/v1/audit/records?type=sre.task.reported.v1&limit=2")
    assert [r["envelope"]["data"]["run_id"] for r in newest["records"]] == ["run-1", "run-2"]
    assert [r["seq"] for r in newest["records"]] == sorted(r["seq"] for r in newest["records"])
    decided = await get_json(f"{base}/v1/audit/records?type=sre.approval.decided.v1")
    assert [r["envelope"]["data"]["reason"] for r in decided["records"]] == ["paged by +44 7700 900123"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert (await get_json(f"{base}/v1/audit/records?type=sre.task.reported.v1&since={future}"))["records"] == []
    async with aiohttp.ClientSession() as session:
        for bad in ("", "?type=sre.task.reported.v1&limit=0", "?type=sre.task.reported.v1&limit=lots"):
            async with session.get(f"{base}/v1/audit/records{bad}") as response:
                assert response.status == 400, bad
                assert ("limit must be" if "limit" in bad else "type is required") in await response.text()
