"""The policy gate's public surface for tools outside the service (the `warden` CLI).

Run the policy's own test cases, replay recorded history through a (changed) policy, read the
configured run modes, and the autonomy ladder with its promotion bar (owned by
`domain.autonomy_bar`; the CLI asks it before publishing a promotion, and the running gate asks
it again when the control arrives). The messages a person sends the gate are built here too: an
operator's control (checked by the gate's own rule for what it can honour) and a decision on an
approval request (around the identity token the approver's console signed). No other module of
this service is imported from outside it (import contract "The CLI imports a service only
through its api module", docs/adr/0009).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ApprovalDecided, ApprovalDecision, ControlChanged, ControlKind, PromotionEvidence

from warden_policy.adapters.config_files import ConfigError, load_policy_config
from warden_policy.domain.autonomy_bar import LADDER, PromotionRefused, check_run_mode_change
from warden_policy.domain.autonomy_bar import promotion_gap as _promotion_gap
from warden_policy.domain.config import ResponsePlans
from warden_policy.domain.evaluation import PolicyError, PolicyInfo
from warden_policy.domain.model import GLOBAL_SCOPE, AccessLevel, InvalidControl, RunMode, parse_control
from warden_policy.domain.rules import GateRules
from warden_policy.policy_suite import CaseResult, load_cases, run_cases
from warden_policy.replay import Replayed, ReplayReport, replay

__all__ = [
    "RUN_MODES",
    "CaseResult",
    "ConfigError",
    "InvalidControl",
    "PolicyError",
    "PolicyInfo",
    "PolicyTestRun",
    "PromotionRefused",
    "ReplayGate",
    "ReplayReport",
    "Replayed",
    "approval_decision",
    "autonomy_step",
    "check_promotion",
    "configured_run_modes",
    "control_change",
    "packaged_config_dir",
    "promotion_gap",
    "replay_gate",
    "run_policy_tests",
]

# shadow -> review -> autonomous: the order promotions climb, one step at a time.
RUN_MODES: tuple[str, ...] = tuple(m.value for m in LADDER)
# A plan whose mode is unknown counts as `review` when stepping (the agent's default).
_UNKNOWN_MODE_INDEX = 1
CONTROL_TOPIC = "sre.control.changed.v1"
DECISION_TOPIC = "sre.approval.decided.v1"


@dataclass(frozen=True)
class PolicyTestRun:
    info: PolicyInfo  # the policy validated against its schema
    cases_file: str  # where the cases came from
    results: list[CaseResult]

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results)

    @property
    def passed(self) -> int:
        return len(self.results) - self.failed


def run_policy_tests(policy_dir: Path | None = None) -> PolicyTestRun:
    """Validate the policy in `policy_dir` (default: the packaged one) and run its own test cases.
    Raises PolicyError when the policy does not validate."""
    from warden_policy.adapters.cedar_policy import CedarPolicy  # cedarpy: only the commands that evaluate

    policy = CedarPolicy(policy_dir)
    origin, suite = load_cases(policy_dir)
    return PolicyTestRun(policy.info(), origin, run_cases(policy, suite))


@dataclass(frozen=True)
class ReplayGate:
    """A gate built from a policy and its plans, ready to replay recorded proposals."""

    rules: GateRules
    access_level: AccessLevel

    def replay(self, records: Iterable[Mapping[str, Any]], since: datetime) -> ReplayReport:
        """What this gate decides for every proposal recorded since `since`, next to what was recorded."""
        return replay(records, since, self.rules, self.access_level)


def replay_gate(policy_dir: Path | None = None, config_dir: Path | None = None) -> ReplayGate:
    """Raises ConfigError (plans or approvers invalid) before PolicyError (policy invalid)."""
    from warden_policy.adapters.cedar_policy import CedarPolicy

    config = load_policy_config(config_dir)
    rules = GateRules(default_catalog(), config.plans, CedarPolicy(policy_dir))
    return ReplayGate(rules, config.plans.agent.access_level)


def configured_run_modes(config_dir: Path | None = None) -> dict[str, str]:
    """Each response plan's run mode as configured (an operator's control may have changed it since)."""
    plans: ResponsePlans = load_policy_config(config_dir).plans
    return {p.name: str(getattr(p.run_mode, "value", p.run_mode)) for p in plans.response_plans}


def _ladder_index(mode: str) -> int:
    return RUN_MODES.index(mode) if mode in RUN_MODES else _UNKNOWN_MODE_INDEX


def autonomy_step(current: str, step: int) -> str | None:
    """The run mode one step up (`step` +1) or down (-1) from `current`; None past either end."""
    target = _ladder_index(current) + step
    return RUN_MODES[target] if 0 <= target < len(RUN_MODES) else None


def promotion_gap(evidence: PromotionEvidence, target: str) -> str | None:
    """Why the evidence does not (yet) support promoting to `target`; None when it does."""
    return _promotion_gap(evidence, RunMode(target))


def check_promotion(
    current: str, target: str, evidence: PromotionEvidence | None, *, forced: bool, reason: str
) -> None:
    """Raises PromotionRefused unless the gate accepts moving a plan from `current` to `target`
    (the check it makes again when the control arrives; a forced promotion needs a reason)."""
    check_run_mode_change(LADDER[_ladder_index(current)], RunMode(target), evidence, forced=forced, reason=reason)


def control_change(
    kind: ControlKind,
    value: str,
    changed_by: str,
    *,
    source: str,
    reason: str = "",
    scope: str = GLOBAL_SCOPE,
    evidence: PromotionEvidence | None = None,
    forced: bool = False,
) -> Envelope:
    """An operator's control change for the bus. Raises InvalidControl for one the gate could not
    honour exactly (it would dead-letter it). One correlation id per thing controlled:
    `control:<kind>` for a global control, `control:<scope>` for a scoped one."""
    parse_control(kind, value, scope, changed_by)
    payload = ControlChanged(
        kind=kind, value=value, scope=scope, changed_by=changed_by, reason=reason, evidence=evidence, forced=forced
    )
    correlationid = f"control:{kind.value}" if scope == GLOBAL_SCOPE else f"control:{scope}"
    return envelope_for(CONTROL_TOPIC, payload, source=source, correlationid=correlationid)


def approval_decision(
    request: Mapping[str, Any],
    correlationid: str,
    decision: ApprovalDecision,
    identity_token: str,
    *,
    source: str,
    channel: str,
    reason: str = "",
) -> Envelope:
    """A person's decision on the approval request `request` (as policy published it) for the bus,
    in the request's incident and correlation. `identity_token` binds it to that request and its
    action hash; the gate verifies it and decides from the approver directory's groups."""
    payload = ApprovalDecided(
        approval_id=request["approval_id"],
        decision=decision,
        reason=reason,
        identity_token=identity_token,
        channel=channel,
    )
    return envelope_for(
        DECISION_TOPIC, payload, source=source, correlationid=correlationid, subject=request["incident_id"]
    )


def packaged_config_dir() -> Traversable:
    """The shipped response_plans.yaml and approvers.yaml."""
    return resources.files("warden_policy").joinpath("config")
