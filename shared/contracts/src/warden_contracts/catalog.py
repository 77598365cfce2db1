"""The vetted action catalog: the only actions Warden can ever take, with typed, bounded params.

Tier, reversibility, preflight, verification and rollback come from here, never from a proposal.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "str", "bool"]
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    choices: list[str] | None = None
    required: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> ParamSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.pattern is not None:
            try:  # a bad pattern stops start-up instead of refusing every value
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"pattern {self.pattern!r}: {err}") from None
        return self

    def check(self, name: str, value: Any) -> str | None:
        expected = {"int": int, "str": str, "bool": bool}[self.type]
        if not isinstance(value, expected) or (self.type == "int" and isinstance(value, bool)):
            return f"{name}: expected {self.type}, got {type(value).__name__}"
        if isinstance(value, int):
            return self._check_bounds(name, value)
        if isinstance(value, str):
            return self._check_text(name, value)
        return None

    def _check_bounds(self, name: str, value: int) -> str | None:
        if self.min is not None and value < self.min:
            return f"{name}: {value} is below the minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{name}: {value} is above the maximum {self.max}"
        return None

    def _check_text(self, name: str, value: str) -> str | None:
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{name}: {value!r} does not match {self.pattern}"
        if self.choices is not None and value not in self.choices:
            return f"{name}: {value!r} is not one of {self.choices}"
        return None


class MetricCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    max: float | None = None
    min: float | None = None

    def holds(self, metrics: dict[str, Any]) -> bool:
        value = metrics.get(self.metric)
        if not isinstance(value, int | float):
            return False
        return (self.max is None or value <= self.max) and (self.min is None or value >= self.min)

    def describe(self) -> str:
        bounds = [f"<= {self.max}" if self.max is not None else "", f">= {self.min}" if self.min is not None else ""]
        return f"{self.metric} {' and '.join(b for b in bounds if b)}"


class Verification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[MetricCheck]
    timeout_s: float = 30.0
    settle_s: float = 0.0


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    # Parameter name -> field of the target's state captured before acting.
    params_from_before: dict[str, str] = Field(default_factory=dict)
    description: str


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    tier: int = Field(ge=0, le=3)
    description: str
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    reversible: bool
    blast_radius: str
    # Preflight: the target must still show the problem, else the world changed since approval.
    preflight: list[MetricCheck] = Field(default_factory=list)
    # "all": every check must hold; "any": one action that fixes alternative problems (a restart
    # frees leaked memory or revives a hung instance) needs one of them still visible.
    preflight_mode: Literal["all", "any"] = "all"
    verification: Verification | None = None
    rollback: Rollback | None = None

    @model_validator(mode="after")
    def _reversible_has_rollback(self) -> ActionSpec:
        if self.reversible and self.rollback is None:
            raise ValueError(f"{self.kind}: a reversible action needs a rollback recipe")
        return self

    def preflight_failures(self, metrics: dict[str, Any]) -> list[MetricCheck]:
        """The preflight checks that no longer hold; empty when the problem is still visible."""
        failing = [check for check in self.preflight if not check.holds(metrics)]
        if self.preflight_mode == "any" and len(failing) < len(self.preflight):
            return []
        return failing

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        errors = [f"{name}: not a parameter of {self.kind}" for name in params if name not in self.params]
        for name, spec in self.params.items():
            if name not in params:
                if spec.required:
                    errors.append(f"{name}: required")
                continue
            problem = spec.check(name, params[name])
            if problem:
                errors.append(problem)
        return errors


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    denied_targets: list[str] = Field(default_factory=list)
    # Targets named "<namespace>/<name>" in these namespaces are never touched, whatever the pattern.
    denied_namespaces: list[str] = Field(default_factory=list)
    actions: dict[str, ActionSpec]

    def get(self, kind: str) -> ActionSpec | None:
        return self.actions.get(kind)

    def target_denied(self, target: str) -> bool:
        namespaces = target.split("/")[:-1]
        if any(ns in self.denied_namespaces for ns in namespaces):
            return True
        return any(fnmatch.fnmatchcase(target, pattern) for pattern in self.denied_targets)

    def check(self, kind: str, target: str, params: dict[str, Any]) -> list[str]:
        """Every reason this action may not be proposed; empty when it is acceptable."""
        spec = self.get(kind)
        if spec is None:
            return [f"action kind {kind!r} is not in the catalog"]
        errors = spec.validate_params(params)
        if self.target_denied(target):
            errors.append(f"target {target!r} is on the do-not-touch list")
        return errors


def load_catalog(path: Path | None = None) -> Catalog:
    text = path.read_text() if path else resources.files(__package__).joinpath("catalog.yaml").read_text()
    raw = yaml.safe_load(text)
    for kind, spec in raw.get("actions", {}).items():
        spec.setdefault("kind", kind)
    catalog = Catalog.model_validate(raw)
    for spec in catalog.actions.values():
        if spec.rollback and spec.rollback.kind not in catalog.actions:
            raise ValueError(f"{spec.kind}: rollback kind {spec.rollback.kind!r} is not in the catalog")
    return catalog


@cache
def default_catalog() -> Catalog:
    return load_catalog()
