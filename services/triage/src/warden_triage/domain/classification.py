"""Incident classification as data: ordered rules, first match wins, validated before use.

The rule file (YAML/JSON, parsed by an adapter) looks like::

    rules:
      - name: memory
        class: memory_pressure
        match: {rule: "(?i)memory", signal: [Metric], labels: {metric_name: "(?i)memory"}}
    default: unknown

Conditions inside `match` are ANDed; regexes use `re.search`. A rule with no condition would
shadow every rule after it, so it is refused: the fallback is `default`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from warden_contracts.events import AlertReceived


class IncidentClass(StrEnum):
    MEMORY_PRESSURE = "memory_pressure"
    ELEVATED_ERROR_RATE = "elevated_error_rate"
    QUEUE_BACKLOG = "queue_backlog"
    CERTIFICATE_EXPIRY = "certificate_expiry"
    DISK_PRESSURE = "disk_pressure"
    FAILED_HEALTH_CHECKS = "failed_health_checks"
    HIGH_LATENCY = "high_latency"
    CRASH_LOOP = "crash_loop"
    BAD_DEPLOYMENT = "bad_deployment"
    SECURITY_ALERT = "security_alert"
    UNKNOWN = "unknown"


class ClassificationError(ValueError):
    """The rule document is invalid; the service must not start with it."""


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ValueError(f"invalid regex {pattern!r}: {err}") from None


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str | None = None
    signal: list[str] | None = None
    source_kind: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("rule")
    @classmethod
    def _rule_regex(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value

    @field_validator("labels")
    @classmethod
    def _label_regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _compile(pattern)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if self.rule is None and not self.signal and not self.source_kind and not self.labels:
            raise ValueError("a match needs at least one condition (use `default` for the fallback)")
        return self

    def matches(self, alert: AlertReceived) -> bool:
        if self.rule is not None and not re.search(self.rule, alert.rule):
            return False
        if self.signal and alert.signal not in self.signal:
            return False
        if self.source_kind and alert.source_kind not in self.source_kind:
            return False
        return all(
            key in alert.labels and re.search(pattern, alert.labels[key]) for key, pattern in self.labels.items()
        )


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    incident_class: IncidentClass = Field(alias="class")
    match: Match


class Classifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(min_length=1)
    default: IncidentClass = IncidentClass.UNKNOWN

    @model_validator(mode="after")
    def _unique_names(self) -> Classifier:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names repeat: {duplicates}")
        return self

    @classmethod
    def from_document(cls, document: Any) -> Classifier:
        try:
            return cls.model_validate(document)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5]
            )
            raise ClassificationError(f"invalid classification rules: {problems}") from None

    def classify(self, alert: AlertReceived) -> IncidentClass:
        return next((r.incident_class for r in self.rules if r.match.matches(alert)), self.default)
