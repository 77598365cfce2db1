"""The scenario format (documented in evals/README.md) and its loader. Bad files fail loudly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from warden_estate.derive import sandbox_estate
from warden_estate.loader import load_estate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultStep(Strict):
    """Injected through the sandbox admin API `at` seconds after the scenario starts."""

    service: str
    kind: str
    at: float = Field(default=0.0, ge=0, le=300)
    log_text: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


SOURCES = ("alertmanager", "azure-monitor", "grafana", "cloudevents")


class AlertStep(Strict):
    """An alert posted to the triage webhook `at` seconds in: an Azure Monitor common-schema alert
    built from `service`/`rule`, or a raw source body (`payload: file.json` beside the scenario,
    `source: alertmanager|azure-monitor|grafana|cloudevents`) posted exactly as the source would."""

    service: str = ""
    rule: str = ""
    at: float = Field(default=0.0, ge=0, le=300)
    severity: Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"] = "Sev2"
    signal: Literal["Metric", "Log", "Activity Log"] = "Metric"
    description: str = ""
    repeat: int = Field(default=1, ge=1, le=50)
    payload: str | None = None
    source: Literal["alertmanager", "azure-monitor", "grafana", "cloudevents"] | None = None
    body: dict[str, Any] | None = None  # the payload file's content, read by the loader

    @model_validator(mode="after")
    def _one_shape(self) -> AlertStep:
        if self.payload is None and (not self.service or not self.rule):
            raise ValueError("an alert needs `service` and `rule`, or a raw `payload` with its `source`")
        if self.payload is not None and self.source is None:
            raise ValueError(f"payload {self.payload}: `source` must be one of {list(SOURCES)}")
        return self


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
    # Answer nothing until the incident under test (expect.service, expect.incident_class) has been
    # gated: a human slower than the planner, so every plan of the scenario meets the requests still
    # pending whatever order the incidents' plans arrive in.
    wait_for_gate: bool = False


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
    # An estate in the sandbox estate.yaml's shape, or a warden.yaml file beside the scenario
    # (its services become the simulated world); None: the bundled estate.
    world: dict[str, Any] | str | None = None
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


def _with_files(scenario: Scenario, directory: Path) -> Scenario:
    """Reads the files a scenario names: raw alert payloads and a warden.yaml world."""
    alerts = [
        a.model_copy(update={"body": json.loads((directory / a.payload).read_text())}) if a.payload else a
        for a in scenario.alerts
    ]
    world = scenario.world
    if isinstance(world, str):
        estate = load_estate(directory / world)  # EstateError names the file, line and fix
        world = sandbox_estate(estate)
    return scenario.model_copy(update={"alerts": alerts, "world": world})


def load_scenarios(directory: Path, only: str | None = None) -> list[Scenario]:
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise ScenarioError(f"no scenario files (*.yaml) in {directory}")
    scenarios = []
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text())
            scenario = _with_files(Scenario.model_validate({**raw, "source": path.name}), path.parent)
        except (OSError, yaml.YAMLError, ValidationError, TypeError, ValueError) as err:
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
