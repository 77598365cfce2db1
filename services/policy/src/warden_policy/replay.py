"""Replays recorded proposals through a (changed) policy: what would it have decided differently?

Input is the audit log's records in order. Operator controls and the blast-radius counters are
rebuilt from the same records as they stood when each proposal arrived; which action held a
target at that moment is not recorded, so the replay treats every target as free."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from warden_contracts.events import ControlChanged, PlanProposed, PolicyDecided

from warden_policy.domain.model import AccessLevel, InvalidControl, Scope, effective_controls, parse_control
from warden_policy.domain.rules import Counts, DecisionRequest, RulesEngine, suspected_injection

PLAN = "sre.plan.proposed.v1"
DECIDED = "sre.policy.decided.v1"
CONTROL = "sre.control.changed.v1"
RELEASING = ("execute", "approved")
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Replayed:
    at: datetime
    incident_id: str
    action_id: str
    kind: str
    target: str
    environment: str
    recorded: str
    replayed: str
    reasons: list[str]

    @property
    def differs(self) -> bool:
        return self.recorded != self.replayed


@dataclass
class ReplayReport:
    proposals: int = 0
    decisions: list[Replayed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[Replayed]:
        return [d for d in self.decisions if d.differs]


@dataclass(frozen=True)
class _Release:
    at: datetime
    target: str
    incident_id: str


def _counts(released: list[_Release], target: str, incident_id: str, now: datetime) -> Counts:
    recent = [r for r in released if now - WINDOW <= r.at <= now]
    return Counts(
        on_target_last_hour=sum(r.target == target for r in recent),
        for_incident=sum(r.incident_id == incident_id and r.at <= now for r in released),
        last_hour=len(recent),
    )


def _gate_decisions(records: list[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(plan message id, action id) -> the outcome the gate recorded for it."""
    found: dict[tuple[str, str], str] = {}
    for record in records:
        env = record.get("envelope", {})
        if env.get("type") == DECIDED and env.get("causationid"):
            data = env.get("data", {})
            found.setdefault((env["causationid"], data.get("action_id", "")), data.get("outcome", ""))
    return found


def replay(
    records: Iterable[Mapping[str, Any]], since: datetime, rules: RulesEngine, default_access: AccessLevel
) -> ReplayReport:
    ordered = list(records)
    recorded = _gate_decisions(ordered)
    controls: dict[tuple[str, str], str] = {}
    released: list[_Release] = []
    report = ReplayReport()
    for record in ordered:
        env = record.get("envelope", {})
        kind, at = env.get("type"), datetime.fromisoformat(env.get("time", since.isoformat()))
        try:
            if kind == CONTROL:
                change = ControlChanged.model_validate(env["data"])
                setting = parse_control(change.kind, change.value, change.scope, change.changed_by)
                controls[(setting.kind, setting.scope)] = setting.value
            elif kind == DECIDED:
                decided = PolicyDecided.model_validate(env["data"])
                if decided.outcome.value in RELEASING:
                    released.append(_Release(at, decided.target, decided.incident_id))
            elif kind == PLAN and at >= since:
                report.proposals += 1
                plan = PlanProposed.model_validate(env["data"])
                report.decisions += _replay_plan(
                    env["id"], plan, at, recorded, controls, released, rules, default_access
                )
        except (ValidationError, InvalidControl, KeyError) as err:
            report.skipped.append(f"{env.get('id', '?')} ({kind}): {err}")
    return report


def _replay_plan(
    message_id: str,
    plan: PlanProposed,
    at: datetime,
    recorded: Mapping[tuple[str, str], str],
    controls: Mapping[tuple[str, str], str],
    released: list[_Release],
    rules: RulesEngine,
    default_access: AccessLevel,
) -> list[Replayed]:
    out = []
    for action in plan.actions:
        before = recorded.get((message_id, action.action_id))
        if before is None:  # the recorded gate stopped before this alternative
            continue
        scope = Scope(plan.environment, action.target, plan.incident_id)
        decision = rules.decide(
            DecisionRequest(
                incident_id=plan.incident_id,
                incident_class=plan.incident_class,
                environment=plan.environment,
                action=action,
                controls=effective_controls(controls, scope, default_access),
                now=at,
                resource_group=plan.resource_group,
                scheduled_task=plan.scheduled_task,
                requested_by=plan.requested_by,
                counts=_counts(released, action.target, plan.incident_id, at),
                suspected_injection=suspected_injection(plan),
            )
        )
        out.append(
            Replayed(
                at,
                plan.incident_id,
                action.action_id,
                action.kind,
                action.target,
                plan.environment,
                before,
                decision.outcome.value,
                decision.reasons,
            )
        )
    return out
