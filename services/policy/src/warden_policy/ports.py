"""Ports the use cases depend on; adapters live in `adapters/` (SQLite embedded, PostgreSQL scale-out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from warden_bus.port import Bus
from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope

from warden_policy.domain.approvals import Approval
from warden_policy.domain.evaluation import PolicyEvaluator
from warden_policy.domain.model import ControlSetting
from warden_policy.domain.rules import Counts

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

Clock = Callable[[], datetime]


class Conflict(Exception):
    """Someone else changed the state this unit of work was decided on: reload and re-decide."""


class AlreadyProcessed(Exception):
    """The triggering message was processed meanwhile (redelivery or a competing replica)."""


@dataclass(frozen=True)
class Slot:
    """One in-flight action per target: held while awaiting approval and while executing."""

    target: str
    action_id: str
    incident_id: str
    lease_until: datetime
    # Hash of the holder's kind, target and params (awaiting approval or released to the executor;
    # empty in slots written before covers). An identical proposal from another incident is then
    # covered by the holder, not refused.
    action_hash: str = ""


@dataclass(frozen=True)
class Covered:
    """An incident whose proposal is the very action another incident holds the target with
    (awaiting approval or released): no page now, but `handoff` is raised if that covering action
    fails, is rolled back or skipped, or never runs (denied, timed out, withdrawn)."""

    action_id: str  # the covering action
    incident_id: str  # the covered incident
    handoff: Envelope


@dataclass(frozen=True)
class Released:
    """A signed action handed to the executor: what the blast-radius limits count."""

    action_id: str
    target: str
    incident_id: str
    released_at: datetime


@dataclass
class Changes:
    """Everything one unit of work writes, applied atomically together with its outbox."""

    message_id: str | None = None
    new_approvals: list[Approval] = field(default_factory=list)
    # Written only where the stored version equals the record's version; the store bumps it.
    updated_approvals: list[Approval] = field(default_factory=list)
    # Taken only if free, lapsed, or already held by the same action (lease renewal).
    acquire: list[Slot] = field(default_factory=list)
    release: list[tuple[str, str]] = field(default_factory=list)  # (target, action_id)
    used_tokens: list[tuple[str, datetime]] = field(default_factory=list)  # (jti, token expiry)
    controls: list[ControlSetting] = field(default_factory=list)
    released: list[Released] = field(default_factory=list)
    covered: list[Covered] = field(default_factory=list)
    uncover: list[str] = field(default_factory=list)  # covering action ids whose covers are settled
    outbox: list[Envelope] = field(default_factory=list)


class StateStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def outbox_of(self, message_id: str) -> list[Envelope] | None:
        """What processing `message_id` published, or None if it was never processed."""

    async def get_approval(self, approval_id: str) -> Approval | None: ...

    async def pending_for_incident(self, incident_id: str) -> list[Approval]: ...

    async def due_approvals(self, now: datetime, limit: int = 100) -> list[Approval]: ...

    async def live_slot(self, target: str, now: datetime) -> Slot | None: ...

    async def covered_by(self, action_id: str) -> list[Covered]:
        """The incidents waiting on `action_id`, covered by it."""

    async def token_used(self, jti: str) -> bool: ...

    async def controls(self) -> dict[tuple[str, str], str]: ...

    async def released_counts(self, target: str, incident_id: str, since: datetime) -> Counts:
        """Released actions on `target` and estate-wide since `since`, and ever for `incident_id`."""

    async def apply(self, changes: Changes, now: datetime) -> None:
        """Atomic; raises Conflict or AlreadyProcessed and then writes nothing."""

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[Envelope]: ...

    async def claim_unpublished(
        self, claimer: str, created_before: datetime, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[Envelope]:
        """Unsent messages `claimer` alone may publish until `now + lease` (whole causes, oldest first)."""

    async def release(self, claimer: str) -> None:
        """Gives `claimer`'s unsent messages back at once."""

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None: ...

    async def purge(self, older_than: datetime, now: datetime) -> None:
        """Forget published outbox rows and processed ids older than `older_than`, and lapsed tokens."""


class IdentityVerifier(Protocol):
    """Verifies an approver's identity token; raises warden_security.tokens.TokenRejected."""

    def verify(self, token: str, *, require: tuple[str, ...] = ()) -> dict[str, Any]: ...


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


@dataclass(frozen=True)
class PolicyPorts:
    """What `create_app` (the composition root) builds unless given one: tests, other deployments.
    None builds the production one."""

    # The broker: from `bus_backend` (NATS or Service Bus).
    bus: Bus | None = None
    # The time deadlines, leases and action expiry are measured by.
    clock: Clock | None = None
    # Where the gate keeps its state: SQLite, PostgreSQL (`policy_store_url`) or Cosmos.
    store: StateStore | None = None
    # The actions the gate knows; default: the shared catalog.
    catalog: Catalog | None = None
    # The authorization policy; default: the Cedar policy in `policy_dir` (or the shipped one).
    policy: PolicyEvaluator | None = None
    # The Key Vault SDK client's credential and client options (tests: the HTTPS double).
    keyvault_credential: TokenCredential | None = None
    keyvault_options: dict[str, Any] | None = None
