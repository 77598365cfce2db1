"""The single table of topics, producers and consumers.

Broker provisioning, per-identity permissions, the README diagram, the JSON Schema snapshots and
the contract tests are all derived from this data; nothing else lists topics by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from warden_contracts import events as ev

SERVICES = ("triage", "planner", "policy", "executor", "audit", "scheduler")
# Identities that are not pipeline services: alert sources, approver UIs, operators, SIEM readers
# and the embedded elevation authority (services/elevation; PIM plays its part on Azure).
CLIENTS = ("ingest", "approver", "operator", "siem", "elevation")
IDENTITIES = SERVICES + CLIENTS

DEADLETTER_TOPIC = "sre.deadletter.v1"
# Request-reply subjects of the embedded elevation authority (not a topic: nothing is stored).
# Each eligible identity may publish only on its own `<subject>.<identity>`, so the authority
# learns who asks from the subject the broker authenticated, not from the request body.
ELEVATION_SUBJECT_PREFIX = "warden.elevation"
ELEVATION_REQUEST_SUBJECT = f"{ELEVATION_SUBJECT_PREFIX}.request"
ELEVATION_RELEASE_SUBJECT = f"{ELEVATION_SUBJECT_PREFIX}.release"


def elevation_request_subject(identity: str) -> str:
    return f"{ELEVATION_REQUEST_SUBJECT}.{identity}"


def elevation_release_subject(identity: str) -> str:
    return f"{ELEVATION_RELEASE_SUBJECT}.{identity}"


@dataclass(frozen=True)
class Topic:
    name: str
    payload: type[BaseModel]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    # Consumed only under a time-boxed elevated identity; no standing identity may read it.
    elevated_consumers: tuple[str, ...] = ()
    description: str = ""

    @property
    def stream(self) -> str:
        return self.name.upper().replace(".", "_").replace("-", "_")

    @property
    def subject_filter(self) -> str:
        return f"{self.name}.>" if self.name == DEADLETTER_TOPIC else self.name


TOPICS: tuple[Topic, ...] = (
    Topic(
        "sre.alert.received.v1",
        ev.AlertReceived,
        ("ingest", "triage"),
        ("triage", "audit"),
        description="normalised alert from a source or the webhook gateway",
    ),
    Topic(
        "sre.incident.changed.v1",
        ev.IncidentChanged,
        ("triage",),
        ("planner", "policy", "audit"),
        description="incident opened / updated / resolved",
    ),
    Topic(
        "sre.plan.proposed.v1",
        ev.PlanProposed,
        ("planner",),
        ("policy", "audit"),
        description="investigation result and catalog actions",
    ),
    Topic(
        "sre.approval.requested.v1",
        ev.ApprovalRequested,
        ("policy",),
        ("approver", "audit"),
        description="a human decision is needed",
    ),
    Topic(
        "sre.approval.decided.v1",
        ev.ApprovalDecided,
        ("approver",),
        ("policy", "audit"),
        description="approve / deny with a signed identity token",
    ),
    Topic(
        "sre.policy.decided.v1",
        ev.PolicyDecided,
        ("policy",),
        ("audit",),
        description="every gate decision, for the record",
    ),
    Topic(
        "sre.action.pending.v1",
        ev.ActionPending,
        ("policy",),
        ("executor",),
        description="doorbell: an action id, never the action",
    ),
    Topic(
        "sre.action.approved.v1",
        ev.SignedAction,
        ("policy",),
        (),
        elevated_consumers=("executor",),
        description="signed executable action, executor only, while elevated",
    ),
    Topic(
        "sre.action.reported.v1",
        ev.ActionReported,
        ("executor",),
        ("policy", "planner", "audit"),
        description="started / succeeded / failed / rolled back / verified",
    ),
    Topic(
        "sre.escalation.raised.v1",
        ev.EscalationRaised,
        ("planner", "policy", "executor"),
        ("audit",),
        description="handoff package, manual P1",
    ),
    Topic(
        "sre.control.changed.v1",
        ev.ControlChanged,
        ("operator",),
        ("policy", "executor", "planner", "audit"),
        description="kill switch, freeze, mode changes",
    ),
    Topic(
        "sre.elevation.ticketed.v1",
        ev.ElevationTicket,
        ("policy",),
        ("elevation",),
        description="policy-signed ticket: who may elevate for which approved action and target",
    ),
    Topic(
        "sre.elevation.changed.v1",
        ev.ElevationChanged,
        ("elevation",),
        ("audit",),
        description="just-in-time elevation activated / deactivated",
    ),
    Topic(
        "sre.task.due.v1",
        ev.TaskDue,
        ("scheduler",),
        ("planner", "audit"),
        description="a scheduled task's run is due (missed runs listed)",
    ),
    Topic(
        "sre.task.reported.v1",
        ev.TaskReported,
        ("planner",),
        ("scheduler", "audit"),
        description="the report of a scheduled run (frees the task's lease)",
    ),
    Topic("sre.audit.recorded.v1", ev.AuditRecorded, ("audit",), ("siem",), description="the SIEM stream"),
    Topic(
        DEADLETTER_TOPIC,
        ev.DeadLettered,
        # The approver UIs consume requests too: without their own dead-letter subject one malformed
        # request would be redelivered to them for minutes instead of being set aside and audited.
        (*SERVICES, "approver", "elevation"),
        ("audit",),
        description="poison and malformed messages, per producing service",
    ),
)

BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}


def topic(name: str) -> Topic:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}") from None


def produced_by(identity: str) -> list[Topic]:
    return [t for t in TOPICS if identity in t.producers]


def consumed_by(identity: str) -> list[Topic]:
    return [t for t in TOPICS if identity in t.consumers]


def elevated_for(identity: str) -> list[Topic]:
    return [t for t in TOPICS if identity in t.elevated_consumers]


def elevation_eligible() -> frozenset[str]:
    """Who may ask for just-in-time elevation: exactly the elevated consumers of the table."""
    return frozenset(c for t in TOPICS for c in t.elevated_consumers)


def deadletter_subject(service: str) -> str:
    return f"{DEADLETTER_TOPIC}.{service}"


def mermaid_diagram() -> str:
    """The README diagram, generated so it can never drift from the table."""
    lines = ["flowchart LR"]
    for t in TOPICS:
        if t.name == DEADLETTER_TOPIC:
            continue
        node = t.stream.lower()
        lines.append(f'  {node}(["{t.name}"])')
        lines.extend(f"  {p} --> {node}" for p in t.producers)
        lines.extend(f"  {node} --> {c}" for c in t.consumers)
        lines.extend(f"  {node} -. elevated .-> {c}" for c in t.elevated_consumers)
    return "\n".join(lines)
