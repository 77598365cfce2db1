"""Incidents covered by another incident's identical action, when that action will not run.

A proposal that is the very action (kind, target, params) another incident already holds the
target with is covered by it: no second approval request, no second run, the hand-off it would
have raised saved (plan_gate). If the covering action then fails, operations raises those
hand-offs. If it never runs at all (its approval is denied, times out, or is withdrawn because its
own incident resolved), each covered incident goes to the humans now, saying which. None of them
is re-asked for approval: a denial or a timeout of this action stands for every incident it
covered (nobody shops the same action to another approver, nothing acts on a timeout), and a
withdrawn request is the responders' call to make again.
"""

from __future__ import annotations

from datetime import datetime

from warden_contracts.envelope import Envelope
from warden_contracts.events import EscalationRaised

from warden_policy.domain.approvals import Approval
from warden_policy.ports import Changes, StateStore


async def lapse(store: StateStore, approval: Approval, why: str, changes: Changes, now: datetime) -> None:
    """`approval`'s action will not run: hand off every incident it covers (`why`: what became of it)."""
    action = approval.action
    covers = await store.covered_by(action.action_id)
    for cover in covers:
        reason = (
            f"action {action.kind} on {action.target} was covered by action {action.action_id} of incident "
            f"{approval.incident_id}, which awaited approval and {why}: no action taken for this incident"
        )
        changes.outbox.append(reworded(cover.handoff, reason, now))
    if covers:
        changes.uncover.append(action.action_id)


def reworded(handoff: Envelope, reason: str, now: datetime) -> Envelope:
    """The saved hand-off, raised now with what actually happened (same id: raised once)."""
    raised = handoff.payload(EscalationRaised).model_copy(update={"reason": reason})
    return handoff.model_copy(update={"data": raised.model_dump(mode="json"), "time": now})
