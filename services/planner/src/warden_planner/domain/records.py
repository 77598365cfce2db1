"""Per-incident planner state and the store port that keeps it across restarts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field
from warden_contracts.envelope import Envelope
from warden_contracts.events import Evidence, PlanFinding

from warden_planner.domain.findings import Candidate


class IncidentRecord(BaseModel):
    incident_id: str
    correlationid: str
    incident_class: str
    severity: str
    environment: str
    resource_group: str | None = None
    target: str | None = None
    closed: bool = False
    escalated: bool = False
    outstanding: bool = False  # a proposed plan awaits its outcome
    attempt: int = 0  # plans published so far
    rechecks: int = 0  # investigations that found no symptom (no attempt spent)
    first_recheck_at: datetime | None = None
    # Set while the latest investigation found the symptom gone: the incident must then close
    # (the monitor's Resolved) or go to a human once the recovery window passes, never sit open.
    recovered_at: datetime | None = None
    last_cause_id: str = ""  # the latest message that changed this record: what a sweep follows
    findings: list[PlanFinding] = Field(default_factory=list)  # e.g. suspected_injection, kept for the incident
    runbook: str = ""
    hypotheses: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)  # vetted, ranked
    tried: list[str] = Field(default_factory=list)  # action kinds that failed
    actions: dict[str, str] = Field(default_factory=dict)  # action_id -> kind, latest plan only
    evidence: list[Evidence] = Field(default_factory=list)
    timeline: list[str] = Field(default_factory=list)
    planner: str = ""
    summary: str = ""
    trace: list[str] = Field(default_factory=list)
    # The stored row's version: a commit succeeds only over the version it read (compare-and-set),
    # so two replicas deciding on one incident cannot both write. Not part of the stored body.
    version: int = Field(default=0, exclude=True)

    def remaining(self) -> list[Candidate]:
        return [c for c in self.candidates if c.kind not in self.tried]


class AlreadyProcessed(Exception):
    """The message id was committed meanwhile (another replica, or a redelivery): nothing was written."""


class Conflict(Exception):
    """The incident record changed since it was read: nothing was written; read again and decide again."""


class PlannerStore(Protocol):
    """Atomic: a message's state change, its processed mark and its outgoing messages commit together.

    `commit` raises AlreadyProcessed when the message id is already taken and Conflict when the
    record's version moved on since `load`; on success the record carries its new version.
    """

    async def seen(self, message_id: str) -> bool: ...

    async def load(self, incident_id: str) -> IncidentRecord | None: ...

    async def controls(self) -> dict[str, str]:
        """'<kind>:<scope>' -> value, e.g. 'kill_switch:global' -> 'on'."""
        ...

    async def commit(
        self,
        message_id: str,
        *,
        record: IncidentRecord | None = None,
        control: tuple[str, str] | None = None,
        outgoing: Sequence[Envelope] = (),
    ) -> None: ...

    async def recovered_open(self) -> list[IncidentRecord]:
        """Records whose latest investigation found the symptom gone and that are neither closed nor escalated."""
        ...

    async def unsent(self) -> list[Envelope]:
        """Outgoing messages committed but not yet acknowledged by the broker, oldest first."""
        ...

    async def claim_unsent(self, claimer: str, now: datetime, lease: timedelta, limit: int = 100) -> list[Envelope]:
        """Unsent messages, oldest first, that `claimer` alone may publish until `now + lease`:
        none another live replica holds; a lapsed claim (its claimer died) is taken over."""
        ...

    async def release(self, claimer: str) -> None:
        """Gives `claimer`'s unsent rows back at once (its publish failed)."""
        ...

    async def mark_sent(self, envelope_id: str) -> None: ...
