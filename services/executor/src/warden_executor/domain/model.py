"""Value types shared by the executor's domain modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Grant:
    """A just-in-time elevation. `material` holds what the adapters need to use it (NATS user JWT
    and seed, the sandbox write token, ...); it is secret and kept out of reprs and reports."""

    grant_id: str
    principal: str
    expires_at: datetime
    material: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Set when the grant is bound to one approved action (the embedded authority's tickets).
    action_id: str | None = None

    def seconds_left(self, now: datetime) -> float:
        return (self.expires_at - now).total_seconds()


@dataclass(frozen=True)
class ActResult:
    """The target's state right before and right after the provider acted."""

    before: dict[str, Any]
    after: dict[str, Any]


class LedgerState(StrEnum):
    STARTED = "started"
    DONE = "done"


@dataclass(frozen=True)
class LedgerEntry:
    action_id: str
    envelope_id: str
    incident_id: str
    kind: str
    target: str
    state: LedgerState
    outcome: str | None = None
    detail: str = ""
    before: dict[str, Any] | None = None
    # The approved message itself, so a restarted executor can finish the action without waiting
    # for the broker to redeliver it.
    envelope: str | None = None
    # Set once the `started` report was acknowledged: from then on the target may have been touched.
    announced: bool = False
    # The live state seen by the preflight right before acting (rollback parameters after a crash).
    observed: dict[str, Any] | None = None


class TargetError(Exception):
    """Base of everything a target provider raises on purpose."""


class TargetNotFound(TargetError):
    """The target does not exist (retrying cannot help)."""


class TargetUnavailable(TargetError):
    """The provider could not be reached or answered unexpectedly (retrying may help)."""


class TargetActionFailed(TargetError):
    """The provider refused or failed the write (it carries the provider's reason)."""


class ElevationUnavailable(Exception):
    """No grant could be obtained; the doorbell should be retried later."""
