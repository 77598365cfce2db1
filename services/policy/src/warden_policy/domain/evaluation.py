"""The port to the policy language: questions in, verdicts out. The gate composes outcomes from
verdicts; the adapter (Cedar) only evaluates. A verdict with errors must be treated as a denial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Cedar action names the gate asks about.
EXECUTE = "execute"
REQUEST_APPROVAL = "request_approval"
APPROVE = "approve"
RELEASE_WITH_APPROVALS = "release_with_approvals"

AGENT = "Agent"
APPROVER = "Approver"

HANDOFF = "handoff"


@dataclass(frozen=True)
class Principal:
    type: str  # AGENT or APPROVER
    id: str
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TargetRef:
    name: str
    environment: str
    resource_group: str = ""


@dataclass(frozen=True)
class Question:
    action: str
    principal: Principal
    target: TargetRef
    # Values are str, int, bool, or a set of Principal (entity references).
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """A policy that determined a verdict: its id, the sentence it explains itself with, and for
    forbids, what the denial means (refuse by default, or hand off to humans)."""

    id: str
    reason: str
    outcome: str = "refuse"

    def describe(self) -> str:
        return f"{self.id}: {self.reason}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rules: tuple[Rule, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def safe_allowed(self) -> bool:
        """Fail closed: a policy that failed to evaluate might have been the forbid that mattered."""
        return self.allowed and not self.errors

    def reasons(self) -> list[str]:
        return [r.describe() for r in self.rules] + [f"policy_error: {e}" for e in self.errors]


@dataclass(frozen=True)
class PolicyInfo:
    source: str
    policies: int
    rule_ids: list[str] = field(default_factory=list)


class PolicyError(ValueError):
    """The policy could not be loaded or validated: the service must not start with it."""


class PolicyEvaluator(Protocol):
    def evaluate(self, questions: Sequence[Question]) -> list[Verdict]: ...
