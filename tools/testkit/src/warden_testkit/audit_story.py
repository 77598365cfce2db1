"""Write an incident's messages through the real audit recorder, at chosen times.

For tests of the audit-derived reports (KPIs, shadow report, autonomy evidence, the CLI):
the records are exactly what the audit service writes, so a format change shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import Recorder
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ActionReported,
    AlertReceived,
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
    DecisionOutcome,
    EscalationRaised,
    IncidentChanged,
    IncidentState,
    PlanProposed,
    PolicyDecided,
    ProposedAction,
    ReportStatus,
    Severity,
)


@dataclass
class AuditStory:
    audit_dir: Path
    _recorder: Recorder | None = None
    _clock: list[datetime] = field(default_factory=list)

    async def __aenter__(self) -> AuditStory:
        self._recorder = Recorder(LocalSegmentStore(self.audit_dir), self._now)
        await self._recorder.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._recorder:
            await self._recorder.close()

    def _now(self) -> datetime:
        return self._clock[-1]

    async def write(self, topic: str, payload: BaseModel, correlationid: str, at: datetime, **kw: Any) -> Envelope:
        assert self._recorder, "use `async with AuditStory(dir)`"
        env = envelope_for(topic, payload, source=kw.pop("source", "test/story"), correlationid=correlationid, **kw)
        env = env.model_copy(update={"time": at})
        self._clock.append(at)
        await self._recorder.record(env.model_dump(mode="json", exclude_none=True))
        return env

    async def alert(self, alert_id: str, service: str, at: datetime, status: str = "Fired") -> Envelope:
        payload = AlertReceived(
            source_kind="sandbox",
            alert_id=alert_id,
            rule=f"{service} memory",
            status=status,
            resource_id=f"/sandbox/{service}",
            service=service,
            fired_at=at,
        )
        return await self.write("sre.alert.received.v1", payload, f"alert:{alert_id}", at)

    async def incident(
        self, incident_id: str, service: str, change: str, at: datetime, opened_at: datetime, alerts: list[str]
    ) -> Envelope:
        payload = IncidentChanged(
            incident_id=incident_id,
            change=IncidentState(change),
            incident_class="memory_pressure",
            title=f"memory pressure on {service}",
            service=service,
            resource_id=f"/sandbox/{service}",
            environment="dev",
            severity=Severity.SEV2,
            fingerprint=f"fp-{service}",
            alert_count=len(alerts),
            alert_ids=alerts,
            opened_at=opened_at,
        )
        return await self.write("sre.incident.changed.v1", payload, incident_id, at)

    async def plan(self, incident_id: str, action_id: str, kind: str, target: str, at: datetime) -> Envelope:
        action = ProposedAction(action_id=action_id, kind=kind, target=target, params={}, rationale="r", confidence=0.9)
        payload = PlanProposed(
            incident_id=incident_id,
            plan_id=f"plan-{action_id}",
            incident_class="memory_pressure",
            environment="dev",
            runbook="memory_pressure",
            summary="s",
            actions=[action],
        )
        return await self.write("sre.plan.proposed.v1", payload, incident_id, at)

    async def decided(
        self, incident_id: str, action_id: str, kind: str, target: str, outcome: str, at: datetime, plan: str = ""
    ) -> Envelope:
        payload = PolicyDecided(
            incident_id=incident_id,
            action_id=action_id,
            kind=kind,
            target=target,
            tier=1,
            run_mode="autonomous",
            outcome=DecisionOutcome(outcome),
            reasons=[f"response_plan: {plan} sets autonomous"] if plan else [],
            approvers=["alice"] if outcome == "approved" else [],
        )
        return await self.write("sre.policy.decided.v1", payload, incident_id, at)

    async def report(self, incident_id: str, action_id: str, kind: str, target: str, status: str, at: datetime) -> None:
        payload = ActionReported(
            action_id=action_id, incident_id=incident_id, kind=kind, target=target, status=ReportStatus(status)
        )
        await self.write("sre.action.reported.v1", payload, incident_id, at)

    async def escalation(self, incident_id: str, at: datetime) -> None:
        payload = EscalationRaised(incident_id=incident_id, reason="no safe action", raised_by="planner")
        await self.write("sre.escalation.raised.v1", payload, incident_id, at)

    async def approval(self, incident_id: str, approval_id: str, action: ProposedAction, at: datetime) -> None:
        payload = ApprovalRequested(
            approval_id=approval_id,
            incident_id=incident_id,
            action=action,
            action_hash="h",
            tier=1,
            environment="dev",
            summary="s",
            reversible=True,
            rollback_plan="none",
            blast_radius="one service",
            expires_at=at,
            requested_by="warden-planner",
        )
        await self.write("sre.approval.requested.v1", payload, incident_id, at)

    async def approval_decided(self, incident_id: str, approval_id: str, decision: str, at: datetime) -> None:
        payload = ApprovalDecided(approval_id=approval_id, decision=ApprovalDecision(decision), identity_token="t")
        await self.write("sre.approval.decided.v1", payload, incident_id, at)

    async def control(self, kind: ControlKind, value: str, scope: str, at: datetime) -> None:
        payload = ControlChanged(kind=kind, value=value, scope=scope, changed_by="alice")
        # The CLI publishes controls under their own correlation id, not the incident's.
        await self.write("sre.control.changed.v1", payload, f"control:{kind.value}", at)
