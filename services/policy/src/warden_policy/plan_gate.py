"""Use case: a plan was proposed. Gate its top-ranked acceptable action."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from warden_contracts.canonical import action_hash
from warden_contracts.catalog import Catalog
from warden_contracts.envelope import Envelope, derived_id
from warden_contracts.events import DecisionOutcome, PlanProposed, ProposedAction

from warden_policy.domain import messages
from warden_policy.domain.approval_card import approval_request
from warden_policy.domain.approvals import Approval
from warden_policy.domain.approver_rules import ApproverRules
from warden_policy.domain.evaluation import TargetRef
from warden_policy.domain.placement import Inventory, place
from warden_policy.domain.rules import Decision, DecisionRequest, RulesEngine, suspected_injection
from warden_policy.envelopes import APPROVAL_REQUESTED, DECIDED, ESCALATION, Release, reply
from warden_policy.live_state import LiveState
from warden_policy.ports import Changes, Clock, Covered, Released, Slot, StateStore
from warden_policy.relay import process_once

log = logging.getLogger("warden.policy")

# Reasons that send a refusal or hand-off to the humans as advice rather than an emergency.
ADVISORY_RULES = ("one_action_per_target", "advisory_mode", "incident_commander")


class PlanGate:
    def __init__(
        self,
        *,
        store: StateStore,
        rules: RulesEngine,
        approver_rules: ApproverRules,
        catalog: Catalog,
        release: Release,
        clock: Clock,
        live: LiveState,
        inventory: Inventory | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._approver_rules = approver_rules
        self._catalog = catalog
        self._release = release
        self._clock = clock
        self._live = live
        self._inventory = inventory

    async def handle(self, env: Envelope) -> list[Envelope]:
        plan = env.payload(PlanProposed)
        if not plan.actions:
            log.info(
                "plan %s proposes no action; nothing to gate", plan.plan_id, extra={"correlationid": env.correlationid}
            )
            return []
        return await process_once(self._store, self._clock, env.id, lambda: self._decide(env, plan))

    async def decide_action(self, plan: PlanProposed, action: ProposedAction, now: datetime) -> Decision:
        placed, why = self._placed(plan, action)
        return _noting(self._rules.decide(await self._request(placed, action, now)), why)

    def _placed(self, plan: PlanProposed, action: ProposedAction) -> tuple[PlanProposed, str]:
        """The plan as the gate sees it for `action`: in the environment the estate gives the target
        (`unknown` when unmapped), and why that is not the plan's own."""
        where = place(self._inventory, action.target, plan.environment)
        if where.environment == plan.environment:
            return plan, ""
        return plan.model_copy(update={"environment": where.environment}), where.reason

    async def _request(self, plan: PlanProposed, action: ProposedAction, now: datetime) -> DecisionRequest:
        return await self._live.request(
            incident_id=plan.incident_id,
            incident_class=plan.incident_class,
            environment=plan.environment,
            action=action,
            now=now,
            resource_group=plan.resource_group,
            scheduled_task=plan.scheduled_task,
            requested_by=plan.requested_by,
            suspected_injection=suspected_injection(plan),
        )

    def _covering(self, request: DecisionRequest, decision: Decision) -> str | None:
        """The action holding the target for another incident (released, or awaiting its approval)
        that is this very action (kind, target, params), when only the busy target stands in the way:
        the policy must allow this proposal on a free target, so a cover never admits what the gate
        would refuse."""
        action = request.action
        if decision.outcome not in (DecisionOutcome.HANDOFF, DecisionOutcome.REFUSED):
            return None
        held_by = request.target_held_by
        if held_by in (None, action.action_id) or request.target_held_for in (None, request.incident_id):
            return None
        if request.target_held_hash != action_hash(action.kind, action.target, action.params):
            return None
        free = self._rules.decide(replace(request, target_held_by=None, target_held_for=None, target_held_hash=""))
        if free.outcome not in (DecisionOutcome.EXECUTE, DecisionOutcome.AWAIT_APPROVAL):
            return None
        return held_by

    async def _decide(self, env: Envelope, plan: PlanProposed) -> Changes:
        now = self._clock()
        changes = Changes()
        timeline: list[str] = []
        for action in plan.actions:  # ranked: the first acceptable action is the one gated
            placed, why = self._placed(plan, action)
            request = await self._request(placed, action, now)
            decision = _noting(self._rules.decide(request), why)
            covering = self._covering(request, decision)
            if covering is not None:
                other_incident = request.target_held_for or ""
                pending = await self._awaiting_approval(covering, other_incident)
                self._cover(env, placed, action, decision, covering, other_incident, pending, changes)
                return changes
            timeline.append(
                f"{action.action_id} {action.kind} on {action.target}: {decision.outcome.value} "
                f"({'; '.join(decision.reasons)})"
            )
            if decision.proposal_defect:
                changes.outbox.append(self._decided(env, placed, action, decision))
                continue
            self._act(env, placed, action, decision, changes, now, timeline)
            return changes
        changes.outbox.append(
            reply(
                env,
                ESCALATION,
                messages.escalation(
                    plan.incident_id, "no acceptable action in the plan: no action taken", plan.evidence, timeline
                ),
                "escalation",
            )
        )
        return changes

    async def _awaiting_approval(self, action_id: str, incident_id: str) -> Approval | None:
        pending = await self._store.pending_for_incident(incident_id)
        return next((a for a in pending if a.action.action_id == action_id), None)

    def _cover(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        covering: str,
        other_incident: str,
        pending: Approval | None,
        changes: Changes,
    ) -> None:
        """No page, no second approval request, nothing run: the same remediation is under way or
        awaits its approval. The hand-off this incident would have raised is kept, and raised if the
        covering action fails or never runs (covers.py)."""
        state = "awaiting approval (no second request)" if pending else "already under way"
        if pending is not None:
            # Written back unchanged: its version orders this cover against a denial, expiry or
            # withdrawal decided meanwhile, which then re-reads the covers (or this re-decides).
            changes.updated_approvals.append(pending)
        note = f"covered_by: action {covering} of incident {other_incident} is this same action, {state}"
        covered = replace(decision, reasons=[note, *decision.reasons])
        log.info(
            "plan %s: %s %s on %s covered by action %s of incident %s",
            plan.plan_id,
            action.action_id,
            action.kind,
            action.target,
            covering,
            other_incident,
            extra={"correlationid": env.correlationid},
        )
        reason = (
            f"action {action.kind} on {action.target} was covered by action {covering} of incident "
            f"{other_incident}, which did not fix it: no action taken for this incident"
        )
        timeline = [f"{action.action_id} {action.kind} on {action.target}: covered ({'; '.join(covered.reasons)})"]
        handoff = reply(
            env,
            ESCALATION,
            messages.escalation(plan.incident_id, reason, plan.evidence, timeline, priority="P2"),
            "escalation",
        )
        changes.covered.append(Covered(covering, plan.incident_id, handoff))
        changes.outbox.append(self._decided(env, plan, action, covered))

    def _decided(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        approval_id: str | None = None,
    ) -> Envelope:
        payload = messages.decided(
            plan.incident_id,
            action,
            tier=decision.tier,
            run_mode=decision.run_mode.value,
            outcome=decision.outcome,
            reasons=decision.reasons,
            approval_id=approval_id,
        )
        return reply(env, DECIDED, payload, f"decided/{action.action_id}")

    def _act(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        changes: Changes,
        now: datetime,
        timeline: list[str],
    ) -> None:
        outcome = decision.outcome
        if outcome is DecisionOutcome.SHADOWED:  # recorded for the record; nothing runs, nobody is asked
            changes.outbox.append(self._decided(env, plan, action, decision))
        elif outcome is DecisionOutcome.EXECUTE:
            slot, released = self._release(
                env,
                incident_id=plan.incident_id,
                action=action,
                tier=decision.tier,
                environment=plan.environment,
                now=now,
            )
            changes.acquire.append(slot)
            changes.released.append(Released(action.action_id, action.target, plan.incident_id, now))
            changes.outbox += [self._decided(env, plan, action, decision), *released]
        elif outcome is DecisionOutcome.AWAIT_APPROVAL:
            self._ask(env, plan, action, decision, changes, now, timeline)
        else:
            self._refuse(env, plan, action, decision, changes, timeline)

    def _ask(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        changes: Changes,
        now: datetime,
        timeline: list[str],
    ) -> None:
        target = TargetRef(action.target, plan.environment, plan.resource_group or "")
        required = self._approver_rules.approvals_required(target=target, tier=decision.tier, kind=action.kind)
        if required is None:
            refused = Decision(
                DecisionOutcome.REFUSED,
                decision.tier,
                decision.run_mode,
                decision.approval_timeout_s,
                ["approval_quorum: no number of approvals releases this action under the policy", *decision.reasons],
            )
            self._refuse(env, plan, action, refused, changes, timeline)
            return
        approval = self._approval(env, plan, action, decision, now, required)
        changes.new_approvals.append(approval)
        # The hash lets an identical proposal from another incident be covered by this request.
        slot = Slot(action.target, action.action_id, plan.incident_id, approval.expires_at, approval.action_hash)
        changes.acquire.append(slot)
        spec = self._catalog.get(action.kind)
        assert spec is not None, "the rules only ask for approval of catalog actions"
        changes.outbox += [
            self._decided(env, plan, action, decision, approval.approval_id),
            reply(
                env,
                APPROVAL_REQUESTED,
                approval_request(approval, spec, decision.reasons),
                f"approval-requested/{action.action_id}",
            ),
        ]

    def _refuse(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        changes: Changes,
        timeline: list[str],
    ) -> None:
        """Refused or handed off: no action, and a human gets the evidence."""
        advice = any(r.startswith(ADVISORY_RULES) for r in decision.reasons)
        reason = (
            f"tier {decision.tier} action {action.kind} on {action.target} handed off to humans"
            if decision.outcome is DecisionOutcome.HANDOFF
            else f"action {action.kind} on {action.target} refused: no action taken"
        )
        changes.outbox += [
            self._decided(env, plan, action, decision),
            reply(
                env,
                ESCALATION,
                messages.escalation(
                    plan.incident_id, reason, plan.evidence, timeline, priority="P2" if advice else "P1"
                ),
                "escalation",
            ),
        ]

    def _approval(
        self,
        env: Envelope,
        plan: PlanProposed,
        action: ProposedAction,
        decision: Decision,
        now: datetime,
        required: int,
    ) -> Approval:
        return Approval(
            approval_id=derived_id(env.id, f"approval/{action.action_id}"),
            incident_id=plan.incident_id,
            correlationid=env.correlationid,
            request_message_id=derived_id(env.id, f"approval-requested/{action.action_id}"),
            action=action,
            action_hash=action_hash(action.kind, action.target, action.params),
            tier=decision.tier,
            environment=plan.environment,
            run_mode=decision.run_mode,
            requested_by=plan.requested_by,
            summary=plan.summary,
            requested_at=now,
            expires_at=now + timedelta(seconds=decision.approval_timeout_s),
            evidence=list(plan.evidence),
            resource_group=plan.resource_group or "",
            proposal_chain=tuple(plan.proposal_chain),
            approvals_required=required,
            incident_class=plan.incident_class,
            scheduled_task=plan.scheduled_task,
        )


def _noting(decision: Decision, why: str) -> Decision:
    return replace(decision, reasons=[why, *decision.reasons]) if why else decision
