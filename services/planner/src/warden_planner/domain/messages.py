"""Outgoing messages: PlanProposed and EscalationRaised, with ids derived from their cause."""

from __future__ import annotations

from typing import Literal

from warden_contracts.envelope import Envelope, derived_id, follow_up
from warden_contracts.events import EscalationRaised, PlanProposed, ProposedAction

from warden_planner.domain.records import IncidentRecord

SOURCE = "warden/planner"
RAISED_BY = "warden-planner"
PLAN_TOPIC = "sre.plan.proposed.v1"
ESCALATION_TOPIC = "sre.escalation.raised.v1"
ADVISORY_PREFIX = "[advisory: kill switch on] "
# Keeps every message far below the 256 KB envelope limit however long an incident runs.
MAX_EVIDENCE = 40
MAX_TIMELINE = 60
MAX_SUMMARY = 400


def action_id(incident_id: str, kind: str, attempt: int) -> str:
    return derived_id(incident_id, f"{kind}/attempt-{attempt}")


def plan_id(incident_id: str, attempt: int) -> str:
    return derived_id(incident_id, f"plan/attempt-{attempt}")


def ranked_actions(record: IncidentRecord) -> list[ProposedAction]:
    return [
        ProposedAction(
            action_id=action_id(record.incident_id, c.kind, record.attempt),
            kind=c.kind,
            target=c.target,
            params=dict(c.params),
            rationale=c.rationale,
            confidence=c.confidence,
        )
        for c in record.remaining()
    ]


def plan_message(
    cause: Envelope, record: IncidentRecord, actions: list[ProposedAction], summary: str, *, advisory: bool
) -> Envelope:
    text = (ADVISORY_PREFIX if advisory else "") + summary
    payload = PlanProposed(
        incident_id=record.incident_id,
        plan_id=plan_id(record.incident_id, record.attempt),
        incident_class=record.incident_class,
        environment=record.environment,
        resource_group=record.resource_group,
        runbook=record.runbook,
        summary=text[:MAX_SUMMARY],
        hypotheses=list(record.hypotheses),
        evidence=record.evidence[-MAX_EVIDENCE:],
        actions=actions,
        requested_by=RAISED_BY,
    )
    return follow_up(
        cause, PLAN_TOPIC, payload, source=SOURCE, subject=record.incident_id, id=derived_id(cause.id, "planner/plan")
    )


def priority(severity: str) -> Literal["P1", "P2"]:
    return "P1" if severity in ("Sev0", "Sev1") else "P2"


def escalation_message(cause: Envelope, record: IncidentRecord, reason: str) -> Envelope:
    payload = EscalationRaised(
        incident_id=record.incident_id,
        priority=priority(record.severity),
        reason=reason[: MAX_SUMMARY * 2],
        raised_by=RAISED_BY,
        evidence=record.evidence[-MAX_EVIDENCE:],
        timeline=record.timeline[-MAX_TIMELINE:],
    )
    return follow_up(
        cause,
        ESCALATION_TOPIC,
        payload,
        source=SOURCE,
        subject=record.incident_id,
        id=derived_id(cause.id, "planner/escalation"),
    )
