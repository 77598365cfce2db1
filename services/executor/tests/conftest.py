"""Fakes at the executor's ports (never inside the domain) and signed-action builders."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for, new_id
from warden_contracts.events import ApprovalProof, SignedAction
from warden_executor.adapters.sql_store import SqlStore
from warden_executor.domain.controls import KillSwitch
from warden_executor.domain.doorbell import DrainCoordinator, action_budget_s
from warden_executor.domain.execution import ActionExecutor
from warden_executor.domain.model import (
    ActResult,
    Grant,
    LedgerEntry,
    LedgerState,
    TargetActionFailed,
    TargetNotFound,
)
from warden_security.action_signing import LocalSigner, approval_proof, sign_action
from warden_testkit.postgres import postgres_schema

APPROVED = "sre.action.approved.v1"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class FakeClock:
    """Virtual time: sleeping advances it, so deadlines are exercised without waiting."""

    def __init__(self, now: datetime = START) -> None:
        self._now, self._mono, self.slept = now, 1000.0, 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
        self.slept += seconds
        await asyncio.sleep(0)


def healthy_view(name: str, **overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": name,
        "environment": "dev",
        "resource_group": "rg-dev",
        "resource_id": f"/sandbox/{name}",
        "replicas": 2,
        "version": "v1.3",
        "previous_version": "v1.2",
        "healthy": 1,
        "memory_pct": 40.0,
        "error_rate": 0.001,
        "latency_ms": 80.0,
        "queue_depth": 10,
        "disk_pct": 30.0,
        "cert_days_left": 90,
        "restarts": 0,
        "faults": [],
        "dependencies": [],
    }
    return view | overrides


Effect = Callable[[dict[str, Any], dict[str, Any]], None]


def _restart(view: dict[str, Any], _: dict[str, Any]) -> None:
    view.update(memory_pct=35.0, healthy=1, restarts=view["restarts"] + 1)


def _scale(view: dict[str, Any], params: dict[str, Any]) -> None:
    view["replicas"] = params["replicas"]


def _rollback(view: dict[str, Any], params: dict[str, Any]) -> None:
    view.update(previous_version=view["version"], version=params["to_version"], error_rate=0.001, healthy=1)


def _renew(view: dict[str, Any], _: dict[str, Any]) -> None:
    view["cert_days_left"] = 365


@dataclass
class InMemoryTarget:
    """TargetProvider port in memory: applies each catalog action's effect to a service view."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    effects: dict[str, Effect] = field(
        default_factory=lambda: {
            "restart_service": _restart,
            "scale_service": _scale,
            "rollback_deployment": _rollback,
            "renew_certificate": _renew,
        }
    )
    calls: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)
    fail_kinds: set[str] = field(default_factory=set)
    observations: int = 0
    # Called on every read: lets a test make a service recover (or degrade) over time.
    on_observe: Callable[[dict[str, Any]], None] | None = None

    async def observe(self, target: str) -> dict[str, Any]:
        self.observations += 1
        if target not in self.services:
            raise TargetNotFound(f"unknown service {target}")
        if self.on_observe is not None:
            self.on_observe(self.services[target])
        return copy.deepcopy(self.services[target])

    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        self.calls.append((kind, target, dict(params), grant.material.get("sandbox_token")))
        if kind in self.fail_kinds:
            raise TargetActionFailed(f"{kind} on {target}: HTTP 500: simulated failure")
        view = self.services[target]
        before = copy.deepcopy(view)
        self.effects[kind](view, params)
        return ActResult(before=before, after=copy.deepcopy(view))


@dataclass
class InMemoryLedger:
    rows: dict[str, LedgerEntry] = field(default_factory=dict)

    async def get(self, action_id: str) -> LedgerEntry | None:
        return self.rows.get(action_id)

    async def unfinished(self) -> list[LedgerEntry]:
        return [e for e in self.rows.values() if e.state is LedgerState.STARTED]

    async def announce(self, action_id: str, observed: dict[str, Any]) -> bool:
        self.rows[action_id] = _replace(self.rows[action_id], announced=True, observed=observed)
        return True

    async def claim(self, action_id: str) -> LedgerEntry | None:
        entry = self.rows.get(action_id)  # one process: every started row is its own
        return entry if entry is not None and entry.state is LedgerState.STARTED else None

    async def start(self, entry: LedgerEntry) -> bool:
        if entry.action_id in self.rows:
            return False
        self.rows[entry.action_id] = entry
        return True

    async def close_unstarted(self, entry: LedgerEntry) -> None:
        self.rows.setdefault(entry.action_id, entry)

    async def record_before(self, action_id: str, before: dict[str, Any]) -> None:
        self.rows[action_id] = _replace(self.rows[action_id], before=before)

    async def finish(self, action_id: str, outcome: str, detail: str) -> None:
        self.rows[action_id] = _replace(self.rows[action_id], state=LedgerState.DONE, outcome=outcome, detail=detail)

    async def abandon(self, action_id: str) -> None:
        if self.rows.get(action_id) and self.rows[action_id].state is LedgerState.STARTED:
            del self.rows[action_id]


def _replace(entry: LedgerEntry, **changes: Any) -> LedgerEntry:
    return replace(entry, **changes)


@dataclass
class InMemoryJournal:
    open: dict[str, str] = field(default_factory=dict)
    owing: dict[str, str] = field(default_factory=dict)

    async def opened(self, drain_id: str, reason: str) -> None:
        self.open[drain_id] = reason

    async def closed(self, drain_id: str) -> None:
        self.open.pop(drain_id, None)

    async def left_open(self) -> list[str]:
        return list(self.open)

    async def owe(self, drain_id: str, reason: str) -> None:
        self.owing[drain_id] = reason

    async def owed(self) -> list[str]:
        return list(self.owing)

    async def paid(self, drain_ids: list[str]) -> None:
        for drain_id in drain_ids:
            self.owing.pop(drain_id, None)


@dataclass
class InMemoryControls:
    switches: dict[str, KillSwitch] = field(default_factory=dict)

    async def kill_switches(self) -> list[KillSwitch]:
        return list(self.switches.values())

    async def save_kill_switch(self, switch: KillSwitch) -> bool:
        old = self.switches.get(switch.scope)
        if old is not None and old.changed_at >= switch.changed_at:
            return False
        self.switches[switch.scope] = switch
        return True

    def engage(self, scope: str = "global") -> None:
        self.switches[scope] = KillSwitch(scope, True, START, "operator:alice", "drill")


@dataclass
class RecordingPublisher:
    published: list[Envelope] = field(default_factory=list)

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def of_type(self, topic: str) -> list[Envelope]:
        return [e for e in self.published if e.type == topic]

    def statuses(self) -> list[str]:
        return [e.data["status"] for e in self.of_type("sre.action.reported.v1")]


@dataclass
class PolicySigner:
    """Plays the policy: signs actions with its key and wraps them as approved envelopes."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def signer(self) -> LocalSigner:
        return LocalSigner(self.key)

    @property
    def trusted(self) -> dict[str, Any]:
        return {self.signer.key_id: self.key.public_key()}

    def action(
        self,
        kind: str = "restart_service",
        target: str = "checkout",
        params: dict[str, Any] | None = None,
        *,
        tier: int | None = None,
        not_after: datetime | None = None,
        action_id: str | None = None,
        incident_id: str = "inc-1",
        environment: str | None = "dev",
        approvals: list[ApprovalProof] | None = None,
        required_approvals: int | None = None,
    ) -> SignedAction:
        spec = default_catalog().get(kind)
        # The catalog tier unless a test signs a wrong one on purpose.
        tier = tier if tier is not None else spec.tier if spec else 1
        return sign_action(
            self.signer,
            action_id=action_id or f"act-{new_id()[:8]}",
            incident_id=incident_id,
            kind=kind,
            target=target,
            params=params or {},
            tier=tier,
            environment=environment,
            # By default approved by alice, as policy signs it after her verified approval.
            approvals=[approval_proof("alice", "token-of-alice")] if approvals is None else approvals,
            required_approvals=(1 if tier >= 2 else 0) if required_approvals is None else required_approvals,
            not_after=not_after or START + timedelta(minutes=10),
        )


def approved(action: SignedAction, envelope_id: str | None = None) -> Envelope:
    return envelope_for(
        APPROVED, action, source="warden/policy", correlationid=action.incident_id, id=envelope_id or new_id()
    )


def grant(seconds: float = 120, now: datetime = START) -> Grant:
    return Grant(
        grant_id=f"grant-{new_id()[:8]}",
        principal="executor",
        expires_at=now + timedelta(seconds=seconds),
        material={"sandbox_token": "token-abc"},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy() -> PolicySigner:
    return PolicySigner()


@pytest.fixture
def target() -> InMemoryTarget:
    return InMemoryTarget(
        services={
            "checkout": healthy_view("checkout", memory_pct=92.0),
            "payments": healthy_view("payments", version="v2.0", previous_version="v1.9", error_rate=0.2),
            "orders": healthy_view("orders", replicas=2, queue_depth=5000),
        }
    )


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture
def controls() -> InMemoryControls:
    return InMemoryControls()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def executor(
    clock: FakeClock,
    policy: PolicySigner,
    target: InMemoryTarget,
    ledger: InMemoryLedger,
    controls: InMemoryControls,
    publisher: RecordingPublisher,
) -> ActionExecutor:
    return ActionExecutor(
        trusted=policy.trusted,
        catalog=default_catalog(),
        ledger=ledger,
        controls=controls,
        target=target,
        publisher=publisher,
        clock=clock,
    )


@dataclass
class FakeElevation:
    kit: object
    clock: object
    ttl_seen: list[int] = field(default_factory=list)
    justifications: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    refuse: str | None = None

    async def elevate(self, justification, ttl_s, action_id=None):
        if self.refuse:
            raise RuntimeError(self.refuse)
        self.justifications.append(justification)
        self.ttl_seen.append(ttl_s)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        return self.kit.grant(ttl_s, self.clock.now())

    async def release(self, grant):
        self.active -= 1
        self.released.append(grant.grant_id)


@dataclass
class QueueSource:
    """ApprovedActionSource in memory: a failed handler puts the message back (like a nak)."""

    queue: list = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    # Messages delivered to a process that died: they come back after this many in-flight checks.
    orphaned: list = field(default_factory=list)
    checks_until_redelivery: int = 3
    in_flight_checks: int = 0

    async def in_flight(self, grant):
        self.in_flight_checks += 1
        if self.orphaned and self.in_flight_checks >= self.checks_until_redelivery:
            self.queue += self.orphaned
            self.orphaned = []
        return len(self.orphaned) + len(self.queue)

    async def drain(self, grant, handler, *, max_messages):
        self.grants.append(grant.grant_id)
        taken = 0
        while self.queue and taken < max_messages:
            envelope = self.queue.pop(0)
            taken += 1
            try:
                await handler(envelope)
            except Exception:
                self.queue.append(envelope)
        await asyncio.sleep(0)
        return taken


@pytest.fixture
def elevation(clock):
    return FakeElevation(SimpleNamespace(grant=grant), clock)


@pytest.fixture
def source():
    return QueueSource()


@pytest.fixture
def journal():
    return InMemoryJournal()


@pytest.fixture
def coordinator(elevation, source, executor, controls, clock, journal, ledger):
    return DrainCoordinator(
        journal=journal,
        ledger=ledger,
        elevation=elevation,
        source=source,
        executor=executor,
        controls=controls,
        clock=clock,
        ttl_s=120,
        action_budget_s=action_budget_s(default_catalog()),
    )


@pytest.fixture
def kit() -> SimpleNamespace:
    """Builders for tests (conftest modules are not importable under --import-mode=importlib)."""
    return SimpleNamespace(
        approved=approved,
        grant=grant,
        healthy_view=healthy_view,
        InMemoryTarget=InMemoryTarget,
        InMemoryControls=InMemoryControls,
        InMemoryJournal=InMemoryJournal,
        PolicySigner=PolicySigner,
        START=START,
    )


# -- HTTPS doubles for cloud control planes (azure-core refuses bearer tokens over http://) --------


@dataclass(frozen=True)
class TlsMaterial:
    cert_path: str
    server_context: Any


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A self-signed certificate for 127.0.0.1, made per run; clients trust it by path."""
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return TlsMaterial(str(cert_path), context)


@pytest.fixture
async def https_app(tls: TlsMaterial):
    """Serve an aiohttp application over HTTPS on 127.0.0.1; yields a starter returning the base URL."""
    from aiohttp import web

    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context)
        await site.start()
        runners.append(runner)
        return f"https://127.0.0.1:{runner.addresses[0][1]}"

    yield serve
    for runner in runners:
        await runner.cleanup()


class StaticToken:
    """The credential at the Azure boundary: a fixed bearer token (async TokenCredential shape)."""

    token = "test-token"

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(datetime.now(UTC).timestamp()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def azure_credential() -> StaticToken:
    return StaticToken()


StoreFactory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest):
    """None (SQLite) or a PostgreSQL URL on a schema of its own, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    async with postgres_schema("executor_test") as url:
        yield url


@pytest.fixture
def make_store(store_url: str | None, tmp_path) -> StoreFactory:
    """Unopened stores on one database: a reopen (same holder), or another replica (`holder=`)."""

    def make(holder: str = "replica-a", lease_s: float = 30.0) -> SqlStore:
        return SqlStore(tmp_path / "state" / "executor.db", store_url, holder=holder, lease_s=lease_s)

    return make
