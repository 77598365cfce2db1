"""Use cases of the approval state machine: human decisions, the durable deadline, supersession."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from warden_bus.port import PoisonMessage
from warden_contracts.envelope import Envelope
from warden_contracts.events import ApprovalDecided, ApprovalDecision, DecisionOutcome, IncidentChanged
from warden_security.tokens import TokenRejected

from warden_policy.domain import messages
from warden_policy.domain.approvals import Approval
from warden_policy.domain.authorisation import REQUIRED_CLAIMS, decision_problem
from warden_policy.domain.config import Approvers
from warden_policy.domain.model import AccessLevel, effective_controls
from warden_policy.envelopes import DECIDED, ESCALATION, Release, about, reply
from warden_policy.ports import Changes, Clock, Conflict, IdentityVerifier, StateStore
from warden_policy.relay import MAX_ATTEMPTS, process_once

log = logging.getLogger("warden.policy")

# Remember a used token well past its expiry plus any verifier leeway.
TOKEN_MEMORY = timedelta(hours=1)


class ApprovalDesk:
    def __init__(
        self,
        *,
        store: StateStore,
        verifier: IdentityVerifier,
        approvers: Approvers,
        release: Release,
        clock: Clock,
        default_access: AccessLevel,
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._approvers = approvers
        self._release = release
        self._clock = clock
        self._default_access = default_access

    async def decide(self, env: Envelope) -> list[Envelope]:
        decided = env.payload(ApprovalDecided)
        if await self._store.get_approval(decided.approval_id) is None:
            raise PoisonMessage(f"unknown approval {decided.approval_id}")
        return await process_once(self._store, self._clock, env.id, lambda: self._decide(env, decided))

    async def _decide(self, env: Envelope, decided: ApprovalDecided) -> Changes:
        now = self._clock()
        approval = await self._store.get_approval(decided.approval_id)
        assert approval is not None, "approvals are never deleted"
        changes = Changes()
        try:
            claims = self._verifier.verify(decided.identity_token, require=REQUIRED_CLAIMS)
        except TokenRejected as err:
            return self._rejected(env, approval, changes, f"identity token rejected: {err}")
        subject = str(claims["sub"])
        changes.used_tokens.append((str(claims["jti"]), _expiry(claims) + TOKEN_MEMORY))
        problem = decision_problem(
            approval,
            claims,
            decided.decision,
            self._approvers,
            jti_seen=await self._store.token_used(str(claims["jti"])),
            now=now,
        )
        if problem:
            if problem.startswith("token replayed"):
                changes.used_tokens.clear()
            return self._rejected(env, approval, changes, problem, subject)
        if decided.decision is ApprovalDecision.DENY:
            changes.updated_approvals.append(approval.deny(subject, decided.reason, now))
            changes.release.append((approval.action.target, approval.action.action_id))
            changes.outbox.append(
                reply(
                    env,
                    DECIDED,
                    messages.decided_for(
                        approval,
                        DecisionOutcome.DENIED,
                        [f"approval: denied by {subject}: {decided.reason}".rstrip(": ")],
                        [subject],
                    ),
                    "decided",
                )
            )
            return changes
        stored = await self._store.controls()
        controls = effective_controls(
            stored, environment=approval.environment, target=approval.action.target, default_access=self._default_access
        )
        if controls.kill_switch or controls.access_level is AccessLevel.READER:
            why = (
                "kill_switch: on, no action may run"
                if controls.kill_switch
                else "access_level: reader, no writes allowed"
            )
            changes.outbox.append(
                reply(
                    env,
                    DECIDED,
                    messages.decided_for(
                        approval, DecisionOutcome.REFUSED, [why, f"approval: by {subject} left pending"]
                    ),
                    "decided",
                )
            )
            return changes
        changes.updated_approvals.append(approval.approve(subject, decided.reason, now))
        slot, released = self._release(
            env,
            incident_id=approval.incident_id,
            action=approval.action,
            tier=approval.tier,
            approvers=[subject],
            now=now,
        )
        changes.acquire.append(slot)
        changes.outbox += [
            reply(
                env,
                DECIDED,
                messages.decided_for(
                    approval,
                    DecisionOutcome.APPROVED,
                    [f"approval: approved by {subject} via {decided.channel}"],
                    [subject],
                ),
                "decided",
            ),
            *released,
        ]
        return changes

    def _rejected(
        self, env: Envelope, approval: Approval, changes: Changes, reason: str, subject: str | None = None
    ) -> Changes:
        reasons = [reason] + ([f"decision by {subject}"] if subject else [])
        changes.outbox.append(
            reply(env, DECIDED, messages.decided_for(approval, DecisionOutcome.REJECTED_APPROVAL, reasons), "decided")
        )
        log.warning(
            "rejected approval decision for %s: %s",
            approval.approval_id,
            reason,
            extra={"correlationid": approval.correlationid},
        )
        return changes

    async def supersede(self, env: Envelope) -> list[Envelope]:
        incident = env.payload(IncidentChanged)
        return await process_once(self._store, self._clock, env.id, lambda: self._supersede(env, incident))

    async def _supersede(self, env: Envelope, incident: IncidentChanged) -> Changes:
        changes = Changes()
        for approval in await self._store.pending_for_incident(incident.incident_id):
            changes.updated_approvals.append(approval.supersede("incident resolved"))
            changes.release.append((approval.action.target, approval.action.action_id))
            changes.outbox.append(
                reply(
                    env,
                    DECIDED,
                    messages.decided_for(
                        approval, DecisionOutcome.SUPERSEDED, ["incident: resolved before a decision"]
                    ),
                    f"superseded/{approval.approval_id}",
                )
            )
        return changes

    async def expire_due(self) -> list[Envelope]:
        """The durable deadline: reads the store, so approvals expire across restarts. Never acts."""
        out: list[Envelope] = []
        for due in await self._store.due_approvals(self._clock()):
            out += await self._expire(due.approval_id)
        return out

    async def _expire(self, approval_id: str) -> list[Envelope]:
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()
            approval = await self._store.get_approval(approval_id)
            if approval is None or not approval.is_due(now):
                return []
            changes = Changes(
                updated_approvals=[approval.expire(now)],
                release=[(approval.action.target, approval.action.action_id)],
                outbox=[
                    about(approval, DECIDED, messages.expired(approval), "expired/decided"),
                    about(approval, ESCALATION, messages.timed_out(approval), "expired/escalation"),
                ],
            )
            try:
                await self._store.apply(changes, now)
                return changes.outbox
            except Conflict:
                continue
        return []


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), UTC)
