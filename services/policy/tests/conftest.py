"""Fixtures for the policy tests: approver keys and tokens, plan and decision envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql
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
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.adapters.postgres_store import PostgresStateStore
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.app import Settings, identity_verifier
from warden_policy.approval_desk import ApprovalDesk
from warden_policy.domain.approver_rules import ApproverRules
from warden_policy.domain.config import Approvers
from warden_policy.domain.model import AccessLevel
from warden_policy.domain.placement import Inventory
from warden_policy.domain.rules import GateRules
from warden_policy.envelopes import Release
from warden_policy.live_state import LiveState
from warden_policy.operations import Operations
from warden_policy.plan_gate import PlanGate
from warden_policy.ports import StateStore
from warden_security.action_signing import LocalSigner
from warden_security.jwks import IssuerRouter
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
        resource_group: str | None = None,
        scheduled_task: str | None = None,
        proposal_chain: list[str] | None = None,
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
            resource_group=resource_group,
            scheduled_task=scheduled_task,
            proposal_chain=proposal_chain or [],
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


POLICY = CedarPolicy()


class World:
    """The gate's use cases over a real store and the shipped Cedar policy, without a broker."""

    def __init__(
        self,
        tmp_path: Path,
        approver_pubkey: Path,
        store: StateStore | None = None,
        verifier: IssuerRouter | None = None,
        approvers: Approvers | None = None,
        inventory: Inventory | None = None,
    ) -> None:
        self.now = datetime.now(UTC)
        self.store = store or SqliteStateStore(tmp_path / "state" / "policy.db")
        self.signing_key = load_or_create_private_key(tmp_path / "keys" / "policy.pem")
        config = load_policy_config()
        release = Release(LocalSigner(self.signing_key), timedelta(minutes=10))
        rules = GateRules(default_catalog(), config.plans, POLICY)
        approver_rules = ApproverRules(POLICY)
        live = LiveState(self.store, AccessLevel.PRIVILEGED)
        common = {"store": self.store, "release": release, "clock": lambda: self.now, "live": live}
        self.gate = PlanGate(
            rules=rules, approver_rules=approver_rules, catalog=default_catalog(), inventory=inventory, **common
        )
        self.ops = Operations(store=self.store, clock=lambda: self.now, plans=config.plans)
        self.desk = ApprovalDesk(
            verifier=verifier or _local_verifier(approver_pubkey),
            approvers=approvers or config.approvers,
            rules=rules,
            approver_rules=approver_rules,
            directory_issuers=(LOCAL_APPROVER_ISSUER,),
            **common,
        )

    async def request(self, plan: Envelope) -> ApprovalRequested:
        out = await self.gate.handle(plan)
        return next(e.payload(ApprovalRequested) for e in out if e.type == "sre.approval.requested.v1")


@pytest.fixture
def inventory() -> Inventory | None:
    """The estate the gate places targets by; a test module overrides it (None: the plans' environments)."""
    return None


@pytest.fixture
async def world(tmp_path: Path, approver_pubkey: Path, inventory: Inventory | None) -> AsyncIterator[World]:
    """The gate's use cases over a real SQLite store, without a broker; `world.now` is the clock."""
    w = World(tmp_path, approver_pubkey, inventory=inventory)
    await w.store.open()
    yield w
    await w.store.close()


def _local_verifier(approver_pubkey: Path) -> IssuerRouter:
    return identity_verifier(Settings(nats_creds=Path("unused.creds"), approver_issuer_pubkey=approver_pubkey))


POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def unique_schema() -> str:
    return f"policy_test_{new_id().replace('-', '')[:16]}"


async def drop_schema(schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A schema of its own in the shared test database, dropped afterwards."""
    schema = unique_schema()
    yield schema
    await drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[StateStore, StateStore]]:
    """Two connections to one database = two replicas sharing their state."""
    first: StateStore
    second: StateStore
    if request.param == "sqlite":
        first, second = SqliteStateStore(tmp_path / "policy.db"), SqliteStateStore(tmp_path / "policy.db")
    else:
        schema = unique_schema()
        first = PostgresStateStore(POSTGRES_URL, schema=schema)
        second = PostgresStateStore(POSTGRES_URL, schema=schema)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()
    if request.param == "postgres":
        await drop_schema(schema)


@pytest.fixture
def postgres_world(tmp_path: Path, approver_pubkey: Path, pg_schema: str) -> Callable[[], World]:
    """Policy replicas (unopened) sharing one PostgreSQL schema."""
    return lambda: World(tmp_path, approver_pubkey, store=PostgresStateStore(POSTGRES_URL, schema=pg_schema))


@pytest.fixture(params=["sqlite", "postgres"])
def replica_world(request: pytest.FixtureRequest, tmp_path: Path, approver_pubkey: Path) -> Callable[[], World]:
    """Policy replicas (unopened) sharing one database: one SQLite file, or one PostgreSQL schema."""
    if request.param == "sqlite":
        return lambda: World(tmp_path, approver_pubkey)
    factory: Callable[[], World] = request.getfixturevalue("postgres_world")
    return factory


@pytest.fixture
def fresh_world() -> Callable[..., tuple[World, TokenIssuer]]:
    """An unopened world and its approver issuer in `root`, for tests (hypothesis) that need many."""

    def build(
        root: Path, verifier: IssuerRouter | None = None, approvers: Approvers | None = None
    ) -> tuple[World, TokenIssuer]:
        key = load_or_create_private_key(root / "issuer" / "approver.pem")
        world = World(root, public_path(root / "issuer" / "approver.pem"), verifier=verifier, approvers=approvers)
        return world, TokenIssuer(key, LOCAL_APPROVER_ISSUER)

    return build


CedarAnswer = tuple[bool, set[str], tuple[str, ...]]


def _cedar_alone(policy_dir: Path | None, question: Any) -> CedarAnswer:
    """The question on its own, straight through cedarpy against the whole set (the shipped one
    when `policy_dir` is None), real names, nothing reused: (allowed, reason ids, errors)."""
    import json
    from importlib import resources

    import cedarpy

    root = policy_dir or Path(str(resources.files("warden_policy").joinpath("cedar")))
    policies = "\n".join(p.read_text() for p in sorted(root.glob("*.cedar")))
    principal = question.principal
    entities = [
        {
            "uid": {"type": "Warden::Target", "id": question.target.name},
            "attrs": {"environment": question.target.environment, "resource_group": question.target.resource_group},
            "parents": [],
        },
        {
            "uid": {"type": f"Warden::{principal.type}", "id": principal.id},
            "attrs": {},
            "parents": [{"type": "Warden::Group", "id": g} for g in sorted(principal.groups)],
        },
    ]

    def value(v: Any) -> Any:
        if isinstance(v, set):
            return [{"__entity": {"type": f"Warden::{p.type}", "id": p.id}} for p in sorted(v, key=str)]
        return v

    request = {
        "principal": {"type": f"Warden::{principal.type}", "id": principal.id},
        "action": {"type": "Warden::Action", "id": question.action},
        "resource": {"type": "Warden::Target", "id": question.target.name},
        "context": {k: value(v) for k, v in question.facts.items()},
    }
    result = cedarpy.is_authorized(request, policies, json.dumps(entities), (root / "schema.cedarschema").read_text())
    ids = json.loads(cedarpy.policies_to_json_str(policies))["staticPolicies"]
    reasons = {ids[p]["annotations"]["id"] for p in result.diagnostics.reasons}
    return result.allowed, reasons, tuple(result.diagnostics.errors)


@pytest.fixture
def cedar_alone() -> Callable[[Path | None, Any], CedarAnswer]:
    """What Cedar itself answers to one question, for comparing the adapter's verdicts with."""
    return _cedar_alone
