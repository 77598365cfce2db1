"""Fixtures for the policy tests: approver keys and tokens, plan and decision envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for, new_id
from warden_contracts.events import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequested,
    Evidence,
    PlanProposed,
    ProposedAction,
)
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.approval_desk import ApprovalDesk
from warden_policy.domain.model import AccessLevel
from warden_policy.domain.rules import PythonRules
from warden_policy.envelopes import Release
from warden_policy.plan_gate import PlanGate
from warden_security.action_signing import LocalSigner
from warden_security.keys import load_or_create_private_key, load_public_key, public_path
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer, TokenVerifier

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
    def issue(
        sub: str,
        *,
        approval_id: str,
        action_hash: str,
        groups: list[str],
        ttl_s: int = 300,
        audience: str = APPROVAL_AUDIENCE,
        key: Ed25519PrivateKey | None = None,
    ) -> str:
        issuer = TokenIssuer(key or approver_key, LOCAL_APPROVER_ISSUER)
        return issuer.issue(sub, audience, ttl_s, approval_id=approval_id, action_hash=action_hash, groups=groups)

    return issue


@pytest.fixture
def make_plan() -> PlanFactory:
    def build(
        *,
        incident_class: str = "memory_pressure",
        environment: str = "dev",
        kind: str = "restart_service",
        target: str = "checkout",
        params: dict[str, Any] | None = None,
        incident_id: str | None = None,
        requested_by: str = "warden-planner",
        actions: list[ProposedAction] | None = None,
    ) -> Envelope:
        incident = incident_id or f"inc-{new_id()[:8]}"
        action = ProposedAction(
            action_id=f"act-{new_id()[:8]}",
            kind=kind,
            target=target,
            params=params or {},
            rationale="memory climbing since the last deploy",
            confidence=0.8,
        )
        evidence = Evidence(
            tool="metrics", params={"service": target}, result={"memory_pct": 93}, observed_at=datetime.now(UTC)
        )
        payload = PlanProposed(
            incident_id=incident,
            plan_id=f"plan-{new_id()[:8]}",
            incident_class=incident_class,
            environment=environment,
            runbook="memory-pressure",
            summary=f"{target} is under pressure",
            evidence=[evidence],
            actions=actions if actions is not None else [action],
            requested_by=requested_by,
        )
        return envelope_for("sre.plan.proposed.v1", payload, source="warden/planner", correlationid=incident)

    return build


@pytest.fixture
def make_decision() -> DecisionFactory:
    def build(
        approval_id: str,
        token: str,
        decision: ApprovalDecision = ApprovalDecision.APPROVE,
        correlationid: str = "inc",
        reason: str = "looks right",
    ) -> Envelope:
        payload = ApprovalDecided(approval_id=approval_id, decision=decision, reason=reason, identity_token=token)
        return envelope_for("sre.approval.decided.v1", payload, source="warden/approver", correlationid=correlationid)

    return build


class World:
    def __init__(self, tmp_path: Path, approver_pubkey: Path) -> None:
        self.now = datetime.now(UTC)
        self.store = SqliteStateStore(tmp_path / "state" / "policy.db")
        self.signing_key = load_or_create_private_key(tmp_path / "keys" / "policy.pem")
        config = load_policy_config()
        release = Release(LocalSigner(self.signing_key), timedelta(minutes=10))
        common = {
            "store": self.store,
            "release": release,
            "clock": lambda: self.now,
            "default_access": AccessLevel.PRIVILEGED,
        }
        self.gate = PlanGate(rules=PythonRules(default_catalog(), config.plans), catalog=default_catalog(), **common)
        verifier = TokenVerifier(load_public_key(approver_pubkey), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)
        self.desk = ApprovalDesk(verifier=verifier, approvers=config.approvers, **common)

    async def request(self, plan: Envelope) -> ApprovalRequested:
        out = await self.gate.handle(plan)
        return next(e.payload(ApprovalRequested) for e in out if e.type == "sre.approval.requested.v1")


@pytest.fixture
async def world(tmp_path: Path, approver_pubkey: Path) -> AsyncIterator[World]:
    """The gate's use cases over a real SQLite store, without a broker; `world.now` is the clock."""
    w = World(tmp_path, approver_pubkey)
    await w.store.open()
    yield w
    await w.store.close()
