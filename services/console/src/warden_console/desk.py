"""Use cases of the approver experience, shared by the web console, Teams, Slack and tests:
receive requests, list and show them with their outcome, publish decisions and controls."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequested,
    ControlChanged,
    ControlKind,
)

from warden_console.domain.approvals import ApprovalView
from warden_console.domain.roles import Principal
from warden_console.ports import ApprovalInbox, AuditTrail, AuditUnavailable, IdentityIssuer

log = logging.getLogger("warden.console")

DECIDED_TOPIC = "sre.approval.decided.v1"
CONTROL_TOPIC = "sre.control.changed.v1"

Notifier = Callable[[ApprovalView], Awaitable[None]]
Publish = Callable[[Envelope], Awaitable[None]]
Clock = Callable[[], datetime]


class DecisionRefused(Exception):
    """The console will not send this decision; the message says why, for the person."""


@dataclass(frozen=True)
class SentDecision:
    approval_id: str
    decision: ApprovalDecision
    by: str
    envelope_id: str


class ApproverDesk:
    def __init__(
        self,
        *,
        bus: Bus,
        inbox: ApprovalInbox,
        audit: AuditTrail,
        issuer: IdentityIssuer,
        clock: Clock,
        control_publisher: Publish | None = None,
        counters: Counters | None = None,
    ) -> None:
        self._bus = bus
        self._inbox = inbox
        self._audit = audit
        self._issuer = issuer
        self._clock = clock
        self._control_publisher = control_publisher
        self._counters = counters or Counters()
        self.notifiers: list[Notifier] = []

    @property
    def controls_enabled(self) -> bool:
        return self._control_publisher is not None

    def now(self) -> datetime:
        return self._clock()

    async def on_request(self, env: Envelope) -> None:
        request = env.payload(ApprovalRequested)
        if not await self._inbox.add(request.model_dump(mode="json"), env.correlationid):
            return  # redelivery: already listed and announced
        view = ApprovalView(request.model_dump(mode="json"), env.correlationid)
        for notify in self.notifiers:
            try:
                await notify(view)
                self._counters.inc("notifications_sent")
            except Exception:
                self._counters.inc("notifications_failed")
                # A chat outage must not stop the console listing the request; the audit log has it.
                log.exception("notifier failed for %s", view.approval_id, extra={"correlationid": env.correlationid})

    async def _with_outcomes(self, views: Sequence[ApprovalView]) -> list[ApprovalView]:
        try:
            settled = await self._audit.outcomes()
        except AuditUnavailable as err:
            # Requests stay listed with their local deadline; only the outcomes are missing meanwhile.
            log.warning("%s", err)
            settled = {}
        return [dataclasses.replace(v, outcome=settled.get(v.approval_id)) for v in views]

    async def approval(self, approval_id: str) -> ApprovalView | None:
        view = await self._inbox.get(approval_id)
        return (await self._with_outcomes([view]))[0] if view else None

    async def approvals(self, limit: int = 200) -> list[ApprovalView]:
        return await self._with_outcomes(await self._inbox.recent(limit))

    async def for_incident(self, incident_id: str) -> list[ApprovalView]:
        return await self._with_outcomes(await self._inbox.for_incident(incident_id))

    async def pending(self) -> list[ApprovalView]:
        now = self.now()
        return [v for v in await self.approvals() if v.is_pending(now)]

    async def decide(
        self, who: Principal, approval_id: str, decision: ApprovalDecision, reason: str, channel: str
    ) -> SentDecision:
        view = await self.approval(approval_id)
        if view is None:
            raise DecisionRefused(f"no approval request {approval_id}")
        problem = view.refusal(who, self.now(), approve=decision is ApprovalDecision.APPROVE)
        if problem:
            self._counters.inc("decisions_refused", channel=channel)
            raise DecisionRefused(problem)
        token = self._issuer.token_for(who, view.approval_id, str(view.request["action_hash"]), channel)
        payload = ApprovalDecided(
            approval_id=view.approval_id, decision=decision, reason=reason[:500], identity_token=token, channel=channel
        )
        envelope = envelope_for(
            DECIDED_TOPIC,
            payload,
            source=f"warden/console/{channel}",
            correlationid=view.correlationid,
            subject=view.incident_id,
        )
        await self._bus.publish(envelope)
        self._counters.inc("decisions_sent", channel=channel)
        log.info(
            "%s %s sent by %s via %s",
            decision.value,
            view.approval_id,
            who.name,
            channel,
            extra={"correlationid": view.correlationid},
        )
        return SentDecision(view.approval_id, decision, who.name, envelope.id)

    async def set_control(self, who: Principal, kind: ControlKind, value: str, scope: str, reason: str) -> None:
        if not who.may_control:
            raise DecisionRefused(f"{who.name} is a {who.role.label}; only administrators change controls")
        if self._control_publisher is None:
            raise DecisionRefused("this console has no operator identity; use `warden kill-switch` / `warden mode`")
        payload = ControlChanged(kind=kind, value=value, scope=scope or "global", changed_by=who.name, reason=reason)
        await self._control_publisher(
            envelope_for(CONTROL_TOPIC, payload, source=f"warden/console/{who.name}", correlationid=f"control:{kind}")
        )
        log.info("control %s=%s (%s) set by %s", kind.value, value, scope, who.name)
