"""Policy configuration as data: agent defaults, response plans and approver authorisation.

Validated once at start-up; a typo or an unsafe entry stops the service instead of weakening it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden_policy.domain.model import AccessLevel, RunMode

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

    def matches(self, incident_class: str, environment: str) -> bool:
        return _listed(incident_class, self.incident_classes) and _listed(environment, self.environments)


def _listed(value: str, allowed: list[str]) -> bool:
    return ANY in allowed or value in allowed


class ResponsePlan(_Strict):
    name: str = Field(min_length=1)
    match: PlanMatch = Field(default_factory=PlanMatch)
    run_mode: RunMode
    approval_timeout_s: int | None = Field(default=None, gt=0)


class ResponsePlans(_Strict):
    agent: AgentDefaults = Field(default_factory=AgentDefaults)
    response_plans: list[ResponsePlan] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ResponsePlans:
        names = [p.name for p in self.response_plans]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"response plan names must be unique: {duplicates}")
        return self

    def select(self, incident_class: str, environment: str) -> ResponsePlan | None:
        """First match wins: order in the file is precedence."""
        return next((p for p in self.response_plans if p.match.matches(incident_class, environment)), None)

    def with_timeout(self, approval_timeout_s: int | None) -> ResponsePlans:
        if approval_timeout_s is None:
            return self
        agent = self.agent.model_copy(update={"approval_timeout_s": approval_timeout_s})
        return self.model_copy(update={"agent": agent})


class ApproverUser(_Strict):
    name: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)


class Approvers(_Strict):
    users: list[ApproverUser]
    # tier -> environment (or "*") -> groups allowed to approve that tier there.
    authorisation: dict[int, dict[str, list[str]]]

    @field_validator("authorisation")
    @classmethod
    def _approvable_tiers_only(cls, value: dict[int, dict[str, list[str]]]) -> dict[int, dict[str, list[str]]]:
        bad = sorted(t for t in value if not 0 <= t <= 2)
        if bad:
            raise ValueError(f"tiers {bad} cannot be approved through Warden (tier 3 is human-only)")
        return value

    @model_validator(mode="after")
    def _unique_users(self) -> Approvers:
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("approver user names must be unique")
        return self

    def directory_groups(self, name: str) -> set[str] | None:
        user = next((u for u in self.users if u.name == name), None)
        return set(user.groups) if user else None

    def authorised_groups(self, tier: int, environment: str) -> set[str]:
        """An environment-specific entry replaces the "*" entry, so it can only be made stricter there."""
        by_env = self.authorisation.get(tier, {})
        return set(by_env.get(environment, by_env.get(ANY, [])))


class PolicyConfig(_Strict):
    plans: ResponsePlans
    approvers: Approvers
