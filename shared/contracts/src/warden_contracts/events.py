"""Payload models, one per topic. Tolerant readers: unknown fields are kept, additions are minor."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class Severity(StrEnum):
    SEV0 = "Sev0"
    SEV1 = "Sev1"
    SEV2 = "Sev2"
    SEV3 = "Sev3"
    SEV4 = "Sev4"


class AlertReceived(Payload):
    """A normalised alert; `raw` keeps the source payload as evidence."""

    source_kind: Literal["azure_monitor", "prometheus", "grafana", "cloudevents", "sandbox"] | str
    alert_id: str
    rule: str
    status: Literal["Fired", "Resolved"]
    severity: Severity = Severity.SEV3
    resource_id: str
    service: str | None = None
    environment: str = "dev"
    resource_group: str | None = None
    signal: str | None = None
    description: str = ""
    fired_at: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)


class IncidentState(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"


class IncidentChanged(Payload):
    incident_id: str
    change: IncidentState
    incident_class: str
    title: str
    service: str | None
    resource_id: str
    environment: str
    resource_group: str | None = None
    severity: Severity
    fingerprint: str
    alert_count: int
    alert_ids: list[str] = Field(default_factory=list)
    opened_at: datetime


class Evidence(Payload):
    tool: str
    params: dict[str, Any]
    result: dict[str, Any]
    untrusted: bool = True
    observed_at: datetime


class ProposedAction(Payload):
    action_id: str
    kind: str
    target: str
    params: dict[str, Any]
    rationale: str
    confidence: float = Field(ge=0, le=1)


class PlanProposed(Payload):
    incident_id: str
    plan_id: str
    incident_class: str
    environment: str
    resource_group: str | None = None
    runbook: str
    summary: str
    hypotheses: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    actions: list[ProposedAction] = Field(default_factory=list)
    requested_by: str = "warden-planner"


class ApprovalRequested(Payload):
    approval_id: str
    incident_id: str
    action: ProposedAction
    action_hash: str
    tier: int
    environment: str
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    reversible: bool
    rollback_plan: str
    blast_radius: str
    expires_at: datetime
    requested_by: str


class ApprovalDecision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class ApprovalDecided(Payload):
    approval_id: str
    decision: ApprovalDecision
    reason: str = ""
    identity_token: str
    channel: str = "cli"


class DecisionOutcome(StrEnum):
    EXECUTE = "execute"
    AWAIT_APPROVAL = "await_approval"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    REFUSED = "refused"
    HANDOFF = "handoff"
    REJECTED_APPROVAL = "rejected_approval"
    SHADOWED = "shadowed"  # would have executed or asked; shadow mode records it and does nothing


class PolicyDecided(Payload):
    incident_id: str
    action_id: str
    kind: str
    target: str
    tier: int
    run_mode: str
    outcome: DecisionOutcome
    reasons: list[str] = Field(default_factory=list)
    approval_id: str | None = None
    approvers: list[str] = Field(default_factory=list)


class ActionPending(Payload):
    """Doorbell: an id, never the action."""

    action_id: str


class SignedAction(Payload):
    action_id: str
    incident_id: str
    kind: str
    target: str
    params: dict[str, Any]
    params_hash: str
    tier: int
    approvers: list[str]
    not_after: datetime
    key_id: str
    signature: str


class ReportStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    VERIFIED = "verified"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class ActionReported(Payload):
    action_id: str
    incident_id: str
    kind: str
    target: str
    status: ReportStatus
    detail: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class EscalationRaised(Payload):
    incident_id: str
    priority: Literal["P1", "P2", "P3"] = "P1"
    reason: str
    raised_by: str
    evidence: list[Evidence] = Field(default_factory=list)
    timeline: list[str] = Field(default_factory=list)


class ControlKind(StrEnum):
    """Operator controls; each takes effect for every decision made after it is received."""

    KILL_SWITCH = "kill_switch"  # value on|off
    MODE = "mode"  # value review|autonomous: the agent-level default run mode
    ACCESS_LEVEL = "access_level"  # value reader|privileged
    ADVISORY = "advisory"  # value on|off: the agent proposes only
    FREEZE = "freeze"  # value on|off; scope "global" or "env:<environment>"
    SHADOW = "shadow"  # value on|off; scope "global" or "plan:<name>": decide, record, never execute
    PLAN_RUN_MODE = "plan_run_mode"  # value shadow|review|autonomous; scope "plan:<name>" (progressive autonomy)
    INCIDENT_OWNER = "incident_owner"  # value: the human commander; scope "incident:<id>" (agent proposes only)


class ControlChanged(Payload):
    kind: ControlKind
    value: str
    scope: str = "global"
    changed_by: str
    reason: str = ""


class AuditRecorded(Payload):
    seq: int
    record_hash: str
    prev_hash: str
    message_id: str
    message_type: str
    correlationid: str
    producer: str
    recorded_at: datetime


class ElevationChanged(Payload):
    grant_id: str
    principal: str
    state: Literal["activated", "deactivated", "refused"]
    justification: str
    expires_at: datetime | None = None
    scope: list[str] = Field(default_factory=list)


class DeadLettered(Payload):
    service: str
    topic: str
    reason: str
    deliveries: int
    original_id: str | None = None
    original_text: str = ""
    original_size: int = 0
