"""Fixtures for the policy tests: approver keys and tokens, plan and decision envelopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.envelope import Envelope, envelope_for, new_id
from warden_contracts.events import (
    ApprovalDecided,
    ApprovalDecision,
    Evidence,
    PlanProposed,
    ProposedAction,
)
from warden_security.keys import load_or_create_private_key, public_path
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer

PlanFactory = Callable[..., Envelope]
TokenFactory = Callable[..., str]
DecisionFactory = Callable[..., Envelope]


@pytest.fixture
def approver_key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_or_create_private_key(tmp_path / "issuer" / "approver.pem")


@pytest.fixture
def approver_pubkey(approver_key: Ed25519PrivateKey, tmp_path: Path) -> Path:
    return public_path(tmp_path / "issuer" / "approver.pem")


@pytest.fixture
def issue_token(approver_key: Ed25519PrivateKey) -> TokenFactory:
    def issue(sub: str, *, approval_id: str, action_hash: str, groups: list[str], ttl_s: int = 300,
              audience: str = APPROVAL_AUDIENCE, key: Ed25519PrivateKey | None = None) -> str:
        issuer = TokenIssuer(key or approver_key, LOCAL_APPROVER_ISSUER)
        return issuer.issue(sub, audience, ttl_s, approval_id=approval_id, action_hash=action_hash, groups=groups)

    return issue


@pytest.fixture
def make_plan() -> PlanFactory:
    def build(*, incident_class: str = "memory_pressure", environment: str = "dev", kind: str = "restart_service",
              target: str = "checkout", params: dict[str, Any] | None = None, incident_id: str | None = None,
              requested_by: str = "warden-planner", actions: list[ProposedAction] | None = None) -> Envelope:
        incident = incident_id or f"inc-{new_id()[:8]}"
        action = ProposedAction(action_id=f"act-{new_id()[:8]}", kind=kind, target=target, params=params or {},
                                rationale="memory climbing since the last deploy", confidence=0.8)
        evidence = Evidence(tool="metrics", params={"service": target}, result={"memory_pct": 93},
                            observed_at=datetime.now(UTC))
        payload = PlanProposed(
            incident_id=incident, plan_id=f"plan-{new_id()[:8]}", incident_class=incident_class,
            environment=environment, runbook="memory-pressure", summary=f"{target} is under pressure",
            evidence=[evidence], actions=actions if actions is not None else [action], requested_by=requested_by)
        return envelope_for("sre.plan.proposed.v1", payload, source="warden/planner", correlationid=incident)

    return build


@pytest.fixture
def make_decision() -> DecisionFactory:
    def build(approval_id: str, token: str, decision: ApprovalDecision = ApprovalDecision.APPROVE,
              correlationid: str = "inc", reason: str = "looks right") -> Envelope:
        payload = ApprovalDecided(approval_id=approval_id, decision=decision, reason=reason, identity_token=token)
        return envelope_for("sre.approval.decided.v1", payload, source="warden/approver", correlationid=correlationid)

    return build
