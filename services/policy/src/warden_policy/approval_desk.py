"""Use cases of the approval state machine: human decisions, the durable deadline, supersession."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from warden_bus.port import PoisonMessage
from warden_contracts.envelope import Envelope
from warden_contracts.events import ApprovalDecided, ApprovalDecision, DecisionOutcome, IncidentChanged
from warden_security.action_signing import token_sha256
from warden_security.tokens import TokenRejected

from warden_policy import covers
from warden_policy.domain import messages
from warden_policy.domain.approvals import Approval
from warden_policy.domain.approver_rules import ApproverRules
from warden_policy.domain.authorisation import REQUIRED_CLAIMS, decision_problem, effective_groups, proposal_chain
from warden_policy.domain.config import Approvers
from warden_policy.domain.evaluation import TargetRef
from warden_policy.domain.rules import RulesEngine
from warden_policy.envelopes import DECIDED, ESCALATION, Release, about, reply
from warden_policy.live_state import LiveState
from warden_policy.ports import Changes, Clock, Conflict, IdentityVerifier, Released, StateStore
from warden_policy.relay import MAX_ATTEMPTS, process_once

log = logging.getLogger("warden.policy")

# Remember a used token well past its expiry plus any verifier leeway.
TOKEN_MEMORY = timedelta(hours=1)
# The gate outcomes under which an approved action may still run at approval time.
STILL_RUNNABLE = (DecisionOutcome.EXECUTE, DecisionOutcome.AWAIT_APPROVAL)


class ApprovalDesk:
    def __init__(
        self,
        *,
        store: StateStore,
        verifier: IdentityVerifier,
        approvers: Approvers,
        rules: RulesEngine,
        approver_rules: ApproverRules,
        release: Release,
        clock: Clock,
        live: LiveState,
        directory_issuers: tuple[str, ...],
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._approvers = approvers
        self._rules = rules
        self._approver_rules = approver_rules
        self._release = release
        self._clock = clock
        self._live = live
        self._directory_issuers = directory_issuers

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
            # A JWKS issuer may need a key fetch: keep it off the event loop.
            claims = await asyncio.to_thread(self._verifier.verify, decided.identity_token, require=REQUIRED_CLAIMS)
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
            directory_issuers=self._directory_issuers,
        )
        if problem:
            if problem.startswith("token replayed"):
                changes.used_tokens.clear()
            return self._rejected(env, approval, changes, problem, subject)
        chain = proposal_chain(approval) if decided.decision is ApprovalDecision.APPROVE else set()
        allowed, why = self._approver_rules.may_approve(
            subject,
            effective_groups(claims, self._approvers, self._directory_issuers),
            target=_target(approval),
            tier=approval.tier,
            kind=approval.action.kind,
            chain=chain,
        )
        if not allowed:
            denial = "; ".join(why) or f"no policy lets {subject} decide tier {approval.tier} in {approval.environment}"
            return self._rejected(env, approval, changes, f"not authorised: {denial}", subject)
        if decided.decision is ApprovalDecision.DENY:
            return await self._deny(env, approval, changes, subject, decided.reason, now)
        return await self._approve(env, approval, changes, subject, decided, now)

    async def _deny(
        self, env: Envelope, approval: Approval, changes: Changes, subject: str, reason: str, now: datetime
    ) -> Changes:
        changes.updated_approvals.append(approval.deny(subject, reason, now))
        changes.release.append((approval.action.target, approval.action.action_id))
        why = [f"approval: denied by {subject}: {reason}".rstrip(": ")]
        changes.outbox.append(
            reply(env, DECIDED, messages.decided_for(approval, DecisionOutcome.DENIED, why, [subject]), "decided")
        )
        await covers.lapse(self._store, approval, f"was denied by {subject}", changes, now)
        return changes

    async def _approve(
        self, env: Envelope, approval: Approval, changes: Changes, subject: str, decided: ApprovalDecided, now: datetime
    ) -> Changes:
        guard = await self._guards(approval, now)
        if guard:
            reasons = [*guard, f"approval: by {subject} left pending"]
            changes.outbox.append(
                reply(env, DECIDED, messages.decided_for(approval, DecisionOutcome.REFUSED, reasons), "decided")
            )
            return changes
        count = len(approval.approved_by) + 1
        quorum = self._approver_rules.enough(
            count, target=_target(approval), tier=approval.tier, kind=approval.action.kind
        )
        token = token_sha256(decided.identity_token)
        updated = approval.approve(subject, decided.reason, now, quorum_reached=quorum, token_sha256=token)
        changes.updated_approvals.append(updated)
        approvers = list(updated.approved_by)
        if not quorum:
            waiting = f"approval: {count} of {approval.approvals_required} by {subject}; waiting for another approver"
            changes.outbox.append(
                reply(
                    env,
                    DECIDED,
                    messages.decided_for(approval, DecisionOutcome.AWAIT_APPROVAL, [waiting], approvers),
                    "decided",
                )
            )
            return changes
        slot, released = self._release(
            env,
            incident_id=approval.incident_id,
            action=approval.action,
            tier=approval.tier,
            environment=approval.environment,
            now=now,
            approvals=updated.proofs(),
            required_approvals=approval.approvals_required,
        )
        changes.acquire.append(slot)
        changes.released.append(Released(approval.action.action_id, approval.action.target, approval.incident_id, now))
        reason = f"approval: approved by {', '.join(approvers)} via {decided.channel}"
        changes.outbox += [
            reply(
                env, DECIDED, messages.decided_for(approval, DecisionOutcome.APPROVED, [reason], approvers), "decided"
            ),
            *released,
        ]
        return changes

    async def _guards(self, approval: Approval, now: datetime) -> list[str]:
        """Every guard again, with the live state at approval time; empty when the action may run."""
        request = await self._live.request(
            incident_id=approval.incident_id,
            incident_class=approval.incident_class,
            environment=approval.environment,
            action=approval.action,
            now=now,
            resource_group=approval.resource_group or None,
            scheduled_task=approval.scheduled_task,
            requested_by=approval.requested_by,
        )
        decision = self._rules.decide(request)
        if decision.tier != approval.tier:
            return [f"catalog: tier changed from {approval.tier} to {decision.tier} since the request"]
        if decision.outcome in STILL_RUNNABLE:
            return []
        return [f"guard at approval time: {decision.outcome.value}", *decision.reasons]

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
        now = self._clock()
        for approval in await self._store.pending_for_incident(incident.incident_id):
            withdrawn = f"was withdrawn when incident {incident.incident_id} resolved"
            await covers.lapse(self._store, approval, withdrawn, changes, now)
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
            await covers.lapse(self._store, approval, "timed out", changes, now)
            try:
                await self._store.apply(changes, now)
                return changes.outbox
            except Conflict:
                continue
        return []


def _target(approval: Approval) -> TargetRef:
    return TargetRef(approval.action.target, approval.environment, approval.resource_group)


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), UTC)
