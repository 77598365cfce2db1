"""Whether a signed action may run, decided before anything is touched (DESIGN §3).

Order matters and is fixed: the policy's signature and expiry, then idempotency, then the
approvals the signed body carries, then the kill switch, then the catalog, then the live
preflight. The first failing gate gives the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from warden_contracts.catalog import ActionSpec, Catalog, Rollback
from warden_contracts.events import SignedAction
from warden_security.action_signing import verify_action
from warden_security.signatures import PublicKey

from warden_executor.domain.model import LedgerEntry, LedgerState

CHANGED_SINCE_APPROVAL = "target already recovered / changed since approval"
# The policy pins these to Review (gate.cedar): every write needs a human. A body without an
# environment reads as "unknown".
REVIEW_PINNED_ENVIRONMENTS = frozenset({"prod", "unknown"})
AUTONOMOUS_MAX_TIER = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def signature_problems(action: SignedAction, trusted: Mapping[str, PublicKey], now: datetime) -> list[str]:
    return verify_action(action, trusted, now=now)


def expired_mid_action(
    action: SignedAction, trusted: Mapping[str, PublicKey], entry: LedgerEntry | None, envelope_id: str
) -> bool:
    """Our own delivery, interrupted after the target may have been touched, whose only problem now
    is that the approval expired meanwhile: its outcome must still be verified, never left open."""
    if entry is None or entry.envelope_id != envelope_id or entry.state is not LedgerState.STARTED:
        return False
    return entry.announced and not verify_action(action, trusted, now=action.not_after - timedelta(microseconds=1))


def approvals_needed(action: SignedAction) -> int:
    """How many verified approvals the signed body must carry, derived from the body alone.

    Policy lets the agent act alone only at tier <= 1 outside production; there M = 0 is
    legitimate. Anywhere else at least one approval is needed, and never fewer than the M policy
    signed. Policy may ask for more (suspected injection, security incidents): the executor's
    floor can only be stricter than what it signed, never looser.
    """
    environment = action.environment or "unknown"
    floor = 1 if action.tier > AUTONOMOUS_MAX_TIER or environment in REVIEW_PINNED_ENVIRONMENTS else 0
    return max(action.required_approvals, floor)


def approval_problems(action: SignedAction) -> list[str]:
    """Why the approvals inside the signed action do not release it; empty when they do."""
    problems: list[str] = []
    ids = [a.approver for a in action.approvals]
    if len(set(ids)) != len(ids):
        problems.append("an approver is listed twice in the signed approvals")
    unproven = sorted({a.approver for a in action.approvals if not _SHA256_HEX.fullmatch(a.token_sha256)})
    if unproven:
        problems.append(f"approvals without an identity-token hash: {', '.join(unproven)}")
    if sorted(set(ids)) != sorted(set(action.approvers)):
        problems.append("the signed approvers differ from the signed approvals")
    proven = len(set(ids) - set(unproven))
    needed = approvals_needed(action)
    if proven < needed:
        where = action.environment or "an unknown environment"
        problems.append(
            f"approval missing: tier {action.tier} in {where} needs {needed} verified approval(s) "
            f"(policy signed M={action.required_approvals}), the signed action carries {proven}"
        )
    return problems


class Replay(Enum):
    NEW = "new"  # never seen: may run
    RESUME = "resume"  # our own delivery, interrupted mid-action: verify only, never act again
    REDELIVERED_DONE = "redelivered_done"  # our own delivery, finished: the outcome is already out
    REPLAYED = "replayed"  # the same action id in another message: refuse


@dataclass(frozen=True)
class ReplayVerdict:
    kind: Replay
    reason: str = ""


def replay_verdict(entry: LedgerEntry | None, envelope_id: str) -> ReplayVerdict:
    if entry is None:
        return ReplayVerdict(Replay.NEW)
    if entry.envelope_id != envelope_id:
        return ReplayVerdict(Replay.REPLAYED, f"replayed: already {entry.state.value}")
    if entry.state is LedgerState.STARTED:
        return ReplayVerdict(Replay.RESUME)
    return ReplayVerdict(Replay.REDELIVERED_DONE)


def catalog_problems(catalog: Catalog, action: SignedAction) -> tuple[ActionSpec | None, list[str]]:
    """The catalog, not the message, says what an action is; anything off is refused."""
    problems = catalog.check(action.kind, action.target, action.params)
    spec = catalog.get(action.kind)
    if spec is None:
        return None, problems
    if spec.tier >= 3:
        problems.insert(0, f"tier {spec.tier} action {spec.kind!r} is human-only: never executed by the agent")
    if action.tier != spec.tier:
        problems.append(f"signed tier {action.tier} differs from the catalog tier {spec.tier}")
    if spec.verification is None or not spec.verification.checks:
        problems.append(f"{spec.kind!r} has no verification recipe: success could not be proven")
    return spec, problems


def _observed(view: dict[str, Any], metric: str) -> str:
    return repr(view.get(metric, "<missing>"))


def preflight_changes(spec: ActionSpec, action: SignedAction, view: dict[str, Any]) -> list[str]:
    """Why the approved action no longer fits the live target; empty when it still does.

    The catalog preflight says which problem must still be visible; the rollback recipe's
    parameter mapping says which live field the action sets, so an action whose parameters
    already match the live state (e.g. rollback to the version already running) is a no-op.
    """
    changes = [
        f"{check.describe()} no longer holds (observed {_observed(view, check.metric)})"
        for check in spec.preflight_failures(view)
    ]
    if spec.rollback is not None:
        for param, field in spec.rollback.params_from_before.items():
            if param in action.params and view.get(field) == action.params[param]:
                changes.append(f"{field} is already {action.params[param]!r}")
    return changes


def observable_params(spec: ActionSpec, action: SignedAction) -> list[str]:
    """Parameters whose effect shows in a live field (the rollback recipe's mapping)."""
    if spec.rollback is None:
        return []
    return [p for p in spec.rollback.params_from_before if p in action.params]


def effect_absent(spec: ActionSpec, action: SignedAction, view: dict[str, Any]) -> bool:
    """After a crash between `started` and the provider's answer: does the live target prove the
    action never landed? Only when the catalog names something observable (a preflight problem
    still present, a parameter not yet in effect); otherwise the answer is no, never act twice."""
    if not spec.preflight and not observable_params(spec, action):
        return False
    return not preflight_changes(spec, action, view)


def rollback_params(recipe: Rollback, before: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Parameters for the rollback, taken from the state captured before acting."""
    if before is None:
        return {}, ["the state before the action was not captured"]
    params: dict[str, Any] = {}
    missing: list[str] = []
    for param, field in recipe.params_from_before.items():
        if field in before:
            params[param] = before[field]
        else:
            missing.append(f"before-state has no {field!r} for {param!r}")
    return params, missing
