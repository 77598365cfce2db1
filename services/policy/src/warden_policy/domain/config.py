"""Policy configuration as data: agent defaults, response plans and approver authorisation.

Validated once at start-up; a typo or an unsafe entry stops the service instead of weakening it.
"""

from __future__ import annotations

from datetime import datetime, time

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warden_policy.domain.model import AccessLevel, RunMode
from warden_policy.domain.placement import Inventory

ANY = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentDefaults(_Strict):
    default_run_mode: RunMode = RunMode.REVIEW
    access_level: AccessLevel = AccessLevel.PRIVILEGED
    approval_timeout_s: int = Field(default=900, gt=0)


class PlanMatch(_Strict):
    incident_classes: list[str] = Field(default_factory=lambda: [ANY])
    environments: list[str] = Field(default_factory=lambda: [ANY])
    # The services (action targets) a plan covers; warden.yaml cross-checks that each exists.
    services: list[str] = Field(default_factory=lambda: [ANY])

    def matches(self, incident_class: str, environment: str, service: str | None = None) -> bool:
        return (
            _listed(incident_class, self.incident_classes)
            and _listed(environment, self.environments)
            and (ANY in self.services or (service is not None and service in self.services))
        )


def _listed(value: str, allowed: list[str]) -> bool:
    return ANY in allowed or value in allowed


class ResponsePlan(_Strict):
    name: str = Field(min_length=1)
    match: PlanMatch = Field(default_factory=PlanMatch)
    run_mode: RunMode
    approval_timeout_s: int | None = Field(default=None, gt=0)


class ScheduledTask(_Strict):
    name: str = Field(min_length=1)
    # A read-only task may run tier-0 actions only; the policy refuses anything else.
    read_only: bool = False
    # Default: autonomous for a read-only task, the agent default otherwise.
    run_mode: RunMode | None = None
    approval_timeout_s: int | None = Field(default=None, gt=0)

    def mode(self, agent_default: RunMode) -> RunMode:
        if self.run_mode is not None:
            return self.run_mode
        return RunMode.AUTONOMOUS if self.read_only else agent_default


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ChangeWindow(_Strict):
    days: list[str] = Field(default_factory=lambda: list(DAYS))
    start: time = time(0, 0)
    end: time = time(23, 59, 59)

    @model_validator(mode="after")
    def _valid(self) -> ChangeWindow:
        bad = [d for d in self.days if d not in DAYS]
        if bad or self.start >= self.end:
            raise ValueError(f"change window needs days from {DAYS} and start < end (got {bad}, {self.start})")
        return self

    def contains(self, moment: datetime) -> bool:
        """`moment` is UTC; windows are written in UTC so nobody has to guess a time zone."""
        return DAYS[moment.weekday()] in self.days and self.start <= moment.time() <= self.end


class ResponsePlans(_Strict):
    agent: AgentDefaults = Field(default_factory=AgentDefaults)
    response_plans: list[ResponsePlan] = Field(default_factory=list)
    scheduled_tasks: list[ScheduledTask] = Field(default_factory=list)
    # environment -> windows (UTC) in which scheduled work may change it; absent: any time.
    change_windows: dict[str, list[ChangeWindow]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> ResponsePlans:
        for what, names in (
            ("response plan", [p.name for p in self.response_plans]),
            ("scheduled task", [t.name for t in self.scheduled_tasks]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what} names must be unique: {duplicates}")
        return self

    def task(self, name: str) -> ScheduledTask | None:
        return next((t for t in self.scheduled_tasks if t.name == name), None)

    def in_change_window(self, environment: str, moment: datetime) -> bool:
        windows = self.change_windows.get(environment)
        return windows is None or any(w.contains(moment) for w in windows)

    def select(self, incident_class: str, environment: str, service: str | None = None) -> ResponsePlan | None:
        """First match wins: order in the file is precedence."""
        return next((p for p in self.response_plans if p.match.matches(incident_class, environment, service)), None)

    def with_timeout(self, approval_timeout_s: int | None) -> ResponsePlans:
        if approval_timeout_s is None:
            return self
        agent = self.agent.model_copy(update={"approval_timeout_s": approval_timeout_s})
        return self.model_copy(update={"agent": agent})


class ApproverUser(_Strict):
    name: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)
    # This person's subject at the other trusted issuers (e.g. the Entra object id): only a listed
    # subject is this person, and their groups are these, whatever a token claims.
    subjects: list[str] = Field(default_factory=list)


class Approvers(_Strict):
    """The approver directory. Who may approve which tier where is decided by the Cedar policy."""

    users: list[ApproverUser]

    @model_validator(mode="after")
    def _unique_users(self) -> Approvers:
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("approver user names must be unique")
        return self

    def directory_groups(self, name: str) -> set[str] | None:
        user = next((u for u in self.users if u.name == name), None)
        return set(user.groups) if user else None

    def person(self, subject: str, *, by_name: bool) -> ApproverUser | None:
        """The directory entry for a token subject: by name for the local issuer, otherwise only
        through an explicit `subjects` mapping (another issuer's "bob" is not our bob)."""
        if by_name:
            return next((u for u in self.users if u.name == subject), None)
        return next((u for u in self.users if subject in u.subjects), None)


class PolicyConfig(_Strict):
    plans: ResponsePlans
    approvers: Approvers
    # The estate's services and environments (services.yaml); None: the plans' environments stand.
    inventory: Inventory | None = None
