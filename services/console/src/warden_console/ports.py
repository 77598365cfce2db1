"""Ports the console's use cases depend on; adapters implement them, `app.py` wires them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from warden_bus.port import Bus
from warden_contracts.envelope import Envelope

from warden_console.domain.approvals import ApprovalView, Outcome
from warden_console.domain.roles import Principal

Record = Mapping[str, Any]


class AuditUnavailable(RuntimeError):
    """The audit history cannot be read right now; pages degrade instead of failing."""


class Directory(Protocol):
    """The people who may sign in, their groups and role (the local user file in the embedded mode)."""

    def authenticate(self, name: str, password: str) -> Principal | None: ...

    def lookup(self, name: str) -> Principal | None: ...


class AuditTrail(Protocol):
    """Read access to the audit log: the history approvers see and link to."""

    async def incident_records(self, incident_id: str) -> Sequence[Record]: ...

    async def outcomes(self) -> Mapping[str, Outcome]:
        """Approval id → how policy settled it (approved, denied, expired, superseded)."""
        ...

    async def records_of_type(self, message_type: str, limit: int) -> Sequence[Record]:
        """The newest `limit` records of one message type, in log order."""
        ...


class ApprovalInbox(Protocol):
    """Approval requests received from the bus, kept across restarts."""

    async def add(self, request: Mapping[str, Any], correlationid: str) -> bool:
        """Store a request; False when it was already known (redelivery)."""
        ...

    async def get(self, approval_id: str) -> ApprovalView | None: ...

    async def recent(self, limit: int = 200) -> list[ApprovalView]: ...

    async def for_incident(self, incident_id: str) -> list[ApprovalView]: ...


class IdentityIssuer(Protocol):
    """Mints the short-lived token that proves to policy which human decided (see docs/approvers.md)."""

    def token_for(self, who: Principal, approval_id: str, action_hash: str, channel: str) -> str: ...


@dataclass(frozen=True)
class ConsolePorts:
    """What `create_app` (the composition root) builds unless given one: tests, other deployments.
    None builds the production one."""

    # The broker, as the `approver` identity: from `bus_backend`.
    bus: Bus | None = None
    # The time decisions and sign-ins are stamped with (aware datetimes).
    clock: Callable[[], datetime] | None = None
    # Pending approval requests: SQLite under <data_dir>/state/.
    inbox: ApprovalInbox | None = None
    # The audit history: the audit query API (`audit_url`) or the local log files.
    audit: AuditTrail | None = None
    # Issues approver identity tokens: the local issuer's key.
    issuer: IdentityIssuer | None = None
    # Who may sign in: the local user file, when there is one.
    directory: Directory | None = None
    # Publishes control changes as `operator` (only with `operator_creds`).
    control_publisher: Callable[[Envelope], Awaitable[None]] | None = None
