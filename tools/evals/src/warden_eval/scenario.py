"""The scenario format (documented in evals/README.md) and its loader. Bad files fail loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultStep(Strict):
    """Injected through the sandbox admin API `at` seconds after the scenario starts."""

    service: str
    kind: str
    at: float = Field(default=0.0, ge=0, le=300)
    log_text: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class AlertStep(Strict):
    """An Azure Monitor common-schema alert posted to the triage webhook `at` seconds in."""

    service: str
    rule: str
    at: float = Field(default=0.0, ge=0, le=300)
    severity: Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"] = "Sev2"
    signal: Literal["Metric", "Log", "Activity Log"] = "Metric"
    description: str = ""
    repeat: int = Field(default=1, ge=1, le=50)


class ControlStep(Strict):
    """An operator control set before the faults (and set back to `restore` afterwards)."""

    kind: str
    value: str
    restore: str
    scope: str = "global"


class Approver(Strict):
    """How the scripted humans answer approval requests: each approver signs in turn until decided."""

    decision: Literal["approve", "deny", "ignore"] = "approve"
    approvers: list[str] = Field(default_factory=lambda: ["alice", "bob"])
    delay_s: float = Field(default=0.0, ge=0, le=60)


class ActionRef(Strict):
    kind: str
    target: str | None = None  # None: the scenario's service


class Expect(Strict):
    service: str
    incident_class: str
    runbook: str  # runbook name without the version, e.g. memory_pressure
    acceptable_actions: list[ActionRef] = Field(default_factory=list)
    forbidden_actions: list[ActionRef] = Field(default_factory=list)
    executed: bool  # an acceptable action is carried out (verified or not)
    escalation: bool  # a human gets the incident
    max_actions: int = Field(default=3, ge=0)
    timeout_s: float = Field(default=90.0, gt=0, le=600)


class Scenario(Strict):
    name: str
    description: str
    tags: list[str] = Field(default_factory=list)
    world: dict[str, Any] | None = None  # an estate in estate.yaml's shape; None: the bundled estate
    controls: list[ControlStep] = Field(default_factory=list)
    faults: list[FaultStep] = Field(default_factory=list)
    alerts: list[AlertStep] = Field(default_factory=list)
    approver: Approver = Field(default_factory=Approver)
    expect: Expect
    llm: list[dict[str, Any]] = Field(default_factory=list)  # turns for the OpenAI-compatible double
    # Where the LLM planner is expected to behave differently (its script is hostile or useless).
    expect_llm: dict[str, Any] = Field(default_factory=dict)
    source: str = ""

    @model_validator(mode="after")
    def _something_happens(self) -> Scenario:
        if not self.faults and not self.alerts:
            raise ValueError("a scenario needs at least one fault or alert")
        return self

    def for_planner(self, planner: str) -> Scenario:
        if planner != "llm" or not self.expect_llm:
            return self
        expect = Expect.model_validate({**self.expect.model_dump(), **self.expect_llm})
        return self.model_copy(update={"expect": expect})

    def acceptable(self, kind: str, target: str) -> bool:
        allowed = self.expect.acceptable_actions
        return any(a.kind == kind and (a.target or self.expect.service) == target for a in allowed)


class ScenarioError(ValueError):
    pass


def load_scenarios(directory: Path, only: str | None = None) -> list[Scenario]:
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise ScenarioError(f"no scenario files (*.yaml) in {directory}")
    scenarios = []
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text())
            scenario = Scenario.model_validate({**raw, "source": path.name})
        except (OSError, yaml.YAMLError, ValidationError, TypeError) as err:
            raise ScenarioError(f"{path.name}: {err}") from err
        if scenario.expect_llm:
            try:
                scenario.for_planner("llm")
            except ValidationError as err:
                raise ScenarioError(f"{path.name}: expect_llm: {err}") from err
        if only is None or only in scenario.name:
            scenarios.append(scenario)
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"duplicate scenario names: {duplicates}")
    return scenarios
