"""Outgoing messages: PlanProposed and EscalationRaised, with ids derived from their cause."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope, derived_id, envelope_for, follow_up
from warden_contracts.events import EscalationRaised, Evidence, PlanProposed, ProposedAction

from warden_planner.domain.findings import structured
from warden_planner.domain.records import IncidentRecord

P = TypeVar("P", PlanProposed, EscalationRaised)
SOURCE = "warden/planner"
RAISED_BY = "warden-planner"
PLAN_TOPIC = "sre.plan.proposed.v1"
ESCALATION_TOPIC = "sre.escalation.raised.v1"
ADVISORY_PREFIX = "[advisory: kill switch on] "
# Keeps every message far below the 256 KB envelope limit however long an incident runs.
MAX_EVIDENCE = 40
MAX_TIMELINE = 60
MAX_SUMMARY = 400
MAX_TRACE = 60
MAX_TRACE_LINE = 500
MAX_REFS = 12
# Service Bus Standard takes 256 KiB per message; leave room for the envelope and headers.
MAX_PAYLOAD_BYTES = 200 * 1024


def action_id(incident_id: str, kind: str, attempt: int) -> str:
    return derived_id(incident_id, f"{kind}/attempt-{attempt}")


def plan_id(incident_id: str, attempt: int) -> str:
    return derived_id(incident_id, f"plan/attempt-{attempt}")


def ranked_actions(record: IncidentRecord, catalog: Catalog) -> list[ProposedAction]:
    refs = evidence_refs(record.evidence, record.target)
    actions = []
    for c in record.remaining():
        spec = catalog.get(c.kind)
        actions.append(
            ProposedAction(
                action_id=action_id(record.incident_id, c.kind, record.attempt),
                kind=c.kind,
                target=c.target,
                params=dict(c.params),
                rationale=c.rationale,
                confidence=c.confidence,
                evidence_refs=refs,
                blast_radius=spec.blast_radius if spec else "",
            )
        )
    return actions


def evidence_refs(evidence: list[Evidence], target: str | None) -> list[str]:
    """The successful tool answers about the target: what the proposal rests on."""
    about = [e for e in evidence if e.ref and "error" not in e.result and e.params.get("name") in (target, None)]
    return [e.ref for e in about[-MAX_REFS:] if e.ref]


def telemetry(evidence: list[Evidence], target: str | None) -> dict[str, Any]:
    """The latest snapshot of the target the Observer took (untrusted, as read)."""
    for item in reversed(evidence):
        if item.tool == "get_service" and item.params.get("name") == target and "error" not in item.result:
            return {"observed_at": item.observed_at.isoformat(), "ref": item.ref, "service": item.result}
    return {}


def _trace(record: IncidentRecord) -> list[str]:
    return [line[:MAX_TRACE_LINE] for line in record.trace[-MAX_TRACE:]]


def plan_message(
    cause: Envelope,
    record: IncidentRecord,
    actions: list[ProposedAction],
    summary: str,
    *,
    advisory: bool,
    recheck: int | None = None,
) -> Envelope:
    text = (ADVISORY_PREFIX if advisory else "") + summary
    radius = "; ".join(f"{a.kind}: {a.blast_radius}" for a in actions if a.blast_radius)
    top = actions[0] if actions else None
    operator = (
        f"{text} -> proposed {top.kind} on {top.target} {top.params or ''} (confidence {top.confidence:.0%})"
        if top
        else f"{text} -> no action"
    )
    payload = PlanProposed(
        incident_id=record.incident_id,
        plan_id=(
            derived_id(record.incident_id, f"plan/recheck-{recheck}")
            if recheck is not None
            else plan_id(record.incident_id, record.attempt)
        ),
        incident_class=record.incident_class,
        environment=record.environment,
        resource_group=record.resource_group,
        runbook=record.runbook,
        summary=text[:MAX_SUMMARY],
        hypotheses=list(record.hypotheses),
        evidence=record.evidence[-MAX_EVIDENCE:],
        actions=actions,
        requested_by=RAISED_BY,
        planner=record.planner,
        operator_summary=operator[: MAX_SUMMARY * 2],
        hypotheses_considered=[structured(h) for h in record.hypotheses],
        blast_radius=radius,
        reasoning_trace=_trace(record),
        outcome="recovered" if recheck is not None else "",
        findings=list(record.findings),
    )
    return follow_up(
        cause,
        PLAN_TOPIC,
        fit(payload),
        source=SOURCE,
        subject=record.incident_id,
        id=derived_id(cause.id, "planner/plan"),
    )


Priority = Literal["P1", "P2", "P3"]


def priority(severity: str, incident_class: str = "") -> Priority:
    # A security incident is a P1 whatever the source's severity: a human must look now.
    if incident_class.startswith("security"):
        return "P1"
    return "P1" if severity in ("Sev0", "Sev1") else "P2"


def escalation_message(cause: Envelope, record: IncidentRecord, reason: str) -> Envelope:
    return follow_up(
        cause,
        ESCALATION_TOPIC,
        escalation_payload(record, reason),
        source=SOURCE,
        subject=record.incident_id,
        id=derived_id(cause.id, "planner/escalation"),
    )


def recovery_timeout_message(record: IncidentRecord, reason: str, message_id: str) -> Envelope:
    """The handoff for an incident found recovered that stayed open: caused by the record's last message."""
    return envelope_for(
        ESCALATION_TOPIC,
        escalation_payload(record, reason, "P3"),
        source=SOURCE,
        correlationid=record.correlationid,
        causationid=record.last_cause_id or None,
        subject=record.incident_id,
        id=message_id,
    )


def escalation_payload(record: IncidentRecord, reason: str, level: Priority | None = None) -> EscalationRaised:
    payload = EscalationRaised(
        incident_id=record.incident_id,
        priority=level or priority(record.severity, record.incident_class),
        reason=reason[: MAX_SUMMARY * 2],
        raised_by=RAISED_BY,
        evidence=record.evidence[-MAX_EVIDENCE:],
        timeline=record.timeline[-MAX_TIMELINE:],
        incident_class=record.incident_class,
        service=record.target,
        runbook=record.runbook or None,
        owner=_owner(record.evidence),
        summary=record.summary[:MAX_SUMMARY],
        tried=list(record.tried),
        why_stopped=reason[: MAX_SUMMARY * 2],
        telemetry=telemetry(record.evidence, record.target),
        hypotheses_considered=[structured(h) for h in record.hypotheses],
        reasoning_trace=_trace(record),
    )
    return fit(payload)


def _owner(evidence: list[Evidence]) -> str | None:
    for item in reversed(evidence):
        owner = item.result.get("owner") if item.tool == "get_owner" else None
        if isinstance(owner, str) and owner:
            return owner
    return None


def fit(payload: P) -> P:
    """Oldest evidence, then the oldest trace lines, go first until the message fits the bus."""
    while len(payload.model_dump_json()) > MAX_PAYLOAD_BYTES:
        evidence: list[Evidence] = getattr(payload, "evidence", [])
        trace: list[str] = getattr(payload, "reasoning_trace", [])
        if evidence:
            payload = payload.model_copy(update={"evidence": evidence[len(evidence) // 4 + 1 :]})
        elif trace:
            payload = payload.model_copy(update={"reasoning_trace": trace[len(trace) // 2 :] if len(trace) > 1 else []})
        else:
            break
    return payload
