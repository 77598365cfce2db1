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


class SuppressionProposal(Payload):
    services: list[str]
    environment: str
    rules: list[str] = Field(default_factory=list)
    starts_at: datetime
    ends_at: datetime
    reason: str
    requires_approval: bool = True


# How triage's note on an incident begins when the estate does not map what alerted (the note goes
# on with the warden.yaml snippet). The planner hands such an incident to a human at once: there is
# nothing of it it may investigate.
UNMAPPED_RESOURCE = "unmapped resource — add it to warden.yaml"


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
    # Correlation context from triage's service catalog (optional, additive). `alert_ids` holds at
    # most the first 100 alerts in a storm; `alert_count` is always the full count.
    owner: str | None = None
    commander_channel: str | None = None
    services: list[str] = Field(default_factory=list)  # every service whose alerts joined the incident
    root_service: str | None = None  # the one the others depend on, when dependent services alert together
    # Set once when duplicate pages pile up on one incident: a bounded window triage proposes and
    # never applies itself (a maintenance window needs an operator, longer ones a policy approval).
    suppression_proposal: SuppressionProposal | None = None
    # Facts for the responder triage could not act on, e.g. "unmapped resource — add it to
    # warden.yaml" with the YAML snippet that maps it (environment is then `unknown`).
    notes: list[str] = Field(default_factory=list)
    # The alerts' own free text (descriptions), UNTRUSTED: the planner scans it for injected
    # instructions. Set on the events that carry new alerts, truncated.
    alert_text: list[str] = Field(default_factory=list)


class Evidence(Payload):
    tool: str
    params: dict[str, Any]
    result: dict[str, Any]
    untrusted: bool = True
    observed_at: datetime
    # Stable handle the evidence chain of a proposal points at (e.g. "ev-3f2a9c1d").
    ref: str | None = None


class ProposedAction(Payload):
    action_id: str
    kind: str
    target: str
    params: dict[str, Any]
    rationale: str
    confidence: float = Field(ge=0, le=1)
    # The evidence (Evidence.ref) this action rests on, and the catalog's blast radius for it.
    evidence_refs: list[str] = Field(default_factory=list)
    blast_radius: str = ""


class Hypothesis(Payload):
    """A cause the planner weighed: supported, rejected (with why) or a plain note."""

    statement: str
    verdict: Literal["supported", "rejected", "note"]
    why: str = ""


class PlanFinding(Payload):
    """Something the planner noticed about its own inputs, e.g. `suspected_injection`: text in an
    alert, log or tool answer that tries to instruct the agent. Findings only make a decision stricter."""

    kind: Literal["suspected_injection"] | str
    source: str  # where the text came from, e.g. "alert.description" or "get_logs(checkout-api)"
    rule: str  # which detector rule matched
    excerpt: str = ""  # the matching text, truncated; untrusted, shown as data


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
    # Explanation for the responder and the audit trail (all optional, additive).
    planner: str = ""  # "runbook" or "llm:<model>"
    operator_summary: str = ""
    hypotheses_considered: list[Hypothesis] = Field(default_factory=list)
    blast_radius: str = ""
    reasoning_trace: list[str] = Field(default_factory=list)
    # Set when a scheduled task (not an incident) proposed the plan: its run mode applies.
    scheduled_task: str | None = None
    # Identities besides requested_by that shaped this proposal; none of them may approve it.
    proposal_chain: list[str] = Field(default_factory=list)
    # What the planner noticed about its inputs (suspected_injection, ...); policy reads them.
    findings: list[PlanFinding] = Field(default_factory=list)
    # "recovered": the symptom is gone, nothing to do; the incident closes on the monitor's
    # Resolved or goes to a human after the recovery window. Empty for an ordinary proposal.
    outcome: Literal["recovered"] | str = ""


class ApprovalBrief(Payload):
    """What an approver needs at a glance (all plain text, built by policy from trusted data)."""

    what: str
    where: str
    why: list[str] = Field(default_factory=list)
    blast_radius: str
    reversible: bool
    rollback_plan: str
    expires_at: datetime
    approvals_required: int = 1


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
    # M-of-N: distinct approvals needed before the action is released.
    approvals_required: int = 1
    brief: ApprovalBrief | None = None
    # Microsoft Teams Adaptive Card (schema 1.5) with Action.Execute approve/deny for notifiers.
    adaptive_card: dict[str, Any] = Field(default_factory=dict)


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


class ApprovalProof(Payload):
    """One approval policy verified: the approver and the SHA-256 of the identity token they sent."""

    approver: str
    token_sha256: str


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
    # Added in v1, all signed: what the executor needs to check the approvals itself. No
    # environment reads as "unknown" (treated as production), so an older body needs approvals.
    environment: str | None = None
    required_approvals: int = 0  # the M of M-of-N policy applied (0: ran without asking)
    approvals: list[ApprovalProof] = Field(default_factory=list)


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
    # The handoff package for the responder (all optional, additive).
    incident_class: str | None = None
    service: str | None = None
    runbook: str | None = None
    owner: str | None = None
    summary: str = ""
    tried: list[str] = Field(default_factory=list)
    why_stopped: str = ""
    telemetry: dict[str, Any] = Field(default_factory=dict)
    hypotheses_considered: list[Hypothesis] = Field(default_factory=list)
    reasoning_trace: list[str] = Field(default_factory=list)


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


class PromotionEvidence(Payload):
    """What the audit log shows for a plan, carried with a run-mode promotion so policy can hold it
    to the autonomy bar (the operator CLI computes it; policy refuses what falls short)."""

    shadow_same: int = 0
    shadow_different: int = 0
    shadow_none: int = 0
    incidents: int = 0
    false_remediation_rate: float | None = None
    human_override_rate: float | None = None


class ControlChanged(Payload):
    kind: ControlKind
    value: str
    scope: str = "global"
    changed_by: str
    reason: str = ""
    # Run-mode promotions only (added in v1, optional): the evidence for it, or `forced` past the
    # bar, which policy accepts only with a reason.
    evidence: PromotionEvidence | None = None
    forced: bool = False


class AuditRecorded(Payload):
    seq: int
    record_hash: str
    prev_hash: str
    message_id: str
    message_type: str
    correlationid: str
    producer: str
    recorded_at: datetime
    # SIEM shape (ASIM audit event / OCSF API Activity; docs/siem.md). Optional: added in v1.
    causationid: str | None = None
    time: datetime | None = None  # when the recorded message was produced
    actor: dict[str, Any] | None = None  # id, type (service|human|unknown), verified, basis, via
    operation: str | None = None  # e.g. approval.approve, action.succeeded, control.kill_switch
    object: dict[str, Any] | None = None  # type, id, name (+ action, resource, value)
    result: str | None = None  # Success | Failure | Partial | NA
    result_detail: str | None = None
    severity: str | None = None  # Informational | Low | Medium | High | Critical
    severity_id: int | None = None  # OCSF 1..5
    class_uid: int | None = None  # OCSF class (6003 API Activity)
    record: dict[str, Any] | None = None  # the stored record: sha256(canonical(record - hash)) = record_hash
    checkpoint: dict[str, Any] | None = None  # the latest signed checkpoint, an outside copy of the head
    # The same record as an OCSF 1.3 API Activity event (class 6003), chain fields under
    # `unmapped.warden` (docs/siem.md). Optional: added in v1.
    ocsf: dict[str, Any] | None = None


class ElevationChanged(Payload):
    grant_id: str
    principal: str
    state: Literal["activated", "deactivated", "refused"]
    justification: str
    expires_at: datetime | None = None
    scope: list[str] = Field(default_factory=list)
    # The ticket's action and the one target the grant may write; absent on older records.
    action_id: str | None = None
    target: str | None = None


class ElevationTicket(Payload):
    """Policy's permission for `principal` to elevate for one approved action (DESIGN §3): the
    elevation authority grants only against a ticket that verifies with the policy's key, and
    scopes the write credential to `target`. Not an action: it says nothing of what will run."""

    action_id: str
    incident_id: str
    target: str
    principal: str
    not_after: datetime
    key_id: str
    signature: str


class DeadLettered(Payload):
    service: str
    topic: str
    reason: str
    deliveries: int
    original_id: str | None = None
    original_text: str = ""
    original_size: int = 0


class TaskDue(Payload):
    """A scheduled task's run is due: the planner investigates under the task's own run mode.

    `missed` lists the scheduled times that passed while the scheduler was down; they are reported,
    not silently skipped, and not run one by one (only this run happens)."""

    task: str
    run_id: str
    kind: str  # health_check | cost_report | cert_expiry
    scheduled_for: datetime
    cron: str
    read_only: bool = True
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    missed: list[datetime] = Field(default_factory=list)  # the newest ones when many were missed
    missed_count: int = 0


class TaskFinding(Payload):
    subject: str  # what the finding is about, e.g. a service name
    severity: Literal["ok", "info", "warning", "critical"]
    summary: str
    metrics: dict[str, Any] = Field(default_factory=dict)


class TaskReported(Payload):
    """The report of one scheduled run; proposals (if any) went to policy as `PlanProposed`."""

    task: str
    run_id: str
    kind: str
    status: Literal["completed", "failed"]
    summary: str
    scheduled_for: datetime
    findings: list[TaskFinding] = Field(default_factory=list)
    proposals: list[str] = Field(default_factory=list)  # plan ids sent to policy
    missed: list[datetime] = Field(default_factory=list)
    missed_count: int = 0
