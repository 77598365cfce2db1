"""The policy's own test cases (`warden policy test`): requests with the decision they must get,
shipped beside the policy as `policy_tests.yaml`, run through the same evaluator the gate uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from warden_policy.domain.evaluation import (
    AGENT,
    APPROVE,
    APPROVER,
    EXECUTE,
    RELEASE_WITH_APPROVALS,
    REQUEST_APPROVAL,
    PolicyEvaluator,
    Principal,
    Question,
    TargetRef,
)

CASES_FILE = "policy_tests.yaml"

# A quiet moment: no guard fires, so each case states only the facts it is about.
GATE_DEFAULTS: dict[str, Any] = {
    "kind": "restart_service",
    "tier": 1,
    "run_mode": "review",
    "plan": "",
    "scheduled_task": "",
    "read_only_task": False,
    "incident_class": "memory_pressure",
    "access_level": "privileged",
    "kill_switch": False,
    "advisory": False,
    "frozen": False,
    "in_change_window": True,
    "incident_owned": False,
    "suspected_injection": False,
    "target_busy": False,
    "actions_on_target_last_hour": 0,
    "actions_for_incident": 0,
    "actions_last_hour": 0,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    EXECUTE: GATE_DEFAULTS,
    REQUEST_APPROVAL: GATE_DEFAULTS,
    APPROVE: {"tier": 1, "kind": "restart_service", "proposal_chain": []},
    RELEASE_WITH_APPROVALS: {"tier": 1, "kind": "restart_service", "approvals": 1},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseTarget(_Strict):
    name: str = "checkout-api"
    environment: str = "dev"
    resource_group: str = ""


class Case(_Strict):
    name: str
    action: Literal["execute", "request_approval", "approve", "release_with_approvals"]
    principal: str = "warden-planner"
    groups: list[str] = Field(default_factory=list)
    target: CaseTarget = Field(default_factory=CaseTarget)
    facts: dict[str, Any] = Field(default_factory=dict)
    expect: Literal["allow", "deny"]
    # Policy ids that must be among the determining rules (forbids for a deny, permits for an allow).
    because: list[str] = Field(default_factory=list)

    def question(self) -> Question:
        kind = APPROVER if self.action == APPROVE else AGENT
        facts = {**DEFAULTS[self.action], **self.facts}
        if "proposal_chain" in facts:
            facts["proposal_chain"] = {Principal(APPROVER, name) for name in facts["proposal_chain"]}
        target = TargetRef(self.target.name, self.target.environment, self.target.resource_group)
        return Question(self.action, Principal(kind, self.principal, frozenset(self.groups)), target, facts)


class Suite(_Strict):
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    passed: bool
    got: str
    rules: list[str]


def load_cases(policy_dir: Path | None = None) -> tuple[str, Suite]:
    if policy_dir is not None:
        path = policy_dir / CASES_FILE
        return str(path), Suite.model_validate(yaml.safe_load(path.read_text()))
    shipped = resources.files("warden_policy").joinpath("cedar", CASES_FILE)
    return f"warden_policy/cedar/{CASES_FILE}", Suite.model_validate(yaml.safe_load(shipped.read_text()))


def run_cases(policy: PolicyEvaluator, suite: Suite) -> list[CaseResult]:
    verdicts = policy.evaluate([c.question() for c in suite.cases])
    results = []
    for case, verdict in zip(suite.cases, verdicts, strict=True):
        got = "allow" if verdict.safe_allowed else "deny"
        fired = [r.id for r in verdict.rules]
        passed = got == case.expect and set(case.because) <= set(fired) and not verdict.errors
        results.append(CaseResult(case, passed, got, fired + [f"error: {e}" for e in verdict.errors]))
    return results


def summary(results: list[CaseResult]) -> Mapping[str, int]:
    return {"passed": sum(r.passed for r in results), "failed": sum(not r.passed for r in results)}
