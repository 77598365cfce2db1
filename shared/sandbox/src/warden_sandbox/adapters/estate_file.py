"""Reads an estate description (YAML) into fresh service states.

Validation happens here, at the edge, so a typo in a custom estate fails at start-up with the
offending field instead of surfacing later as a confusing simulation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warden_sandbox.domain.clock import iso
from warden_sandbox.domain.service import Baseline, Deployment, ServiceState

# A name is `service` or `namespace/service`: the HTTP routes rely on at most one slash, and the
# last segment may not collide with a sub-resource of /v1/services/{name}. Patterns are anchored
# because pydantic searches rather than full-matches.
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}(/[a-z0-9][a-z0-9-]{0,62})?$"
RESERVED_SEGMENTS = {"deployments", "logs", "actions", "dependencies"}
VERSION_PATTERN = r"^v[0-9]+(\.[0-9]+){0,2}$"


class EstateError(ValueError):
    pass


class BaselineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_pct: float = Field(default=46.0, ge=30, le=60)
    error_rate: float = Field(default=0.004, ge=0, le=0.01)
    latency_ms: float = Field(default=120.0, gt=0)
    queue_depth: int = Field(default=0, ge=0, le=500)
    disk_pct: float = Field(default=35.0, ge=0, le=80)


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    environment: str = Field(min_length=1)
    resource_group: str = Field(min_length=1)
    provider: str = "Microsoft.Web/sites"
    resource_id: str | None = None
    version: str = Field(pattern=VERSION_PATTERN)
    previous_version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    replicas: int = Field(default=2, ge=1, le=10)
    dependencies: list[str] = Field(default_factory=list)
    # The team paged for this service; defaults to the resource group's team.
    owner: str | None = Field(default=None, min_length=1, max_length=100)
    cert_days_left: int = Field(default=180, gt=14)
    baseline: BaselineSpec = Field(default_factory=lambda: BaselineSpec())

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if "/" in name and name.rsplit("/", 1)[1] in RESERVED_SEGMENTS:
            raise ValueError(f"the last segment of {name!r} collides with an API sub-resource")
        return name


class EstateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription_id: str = Field(min_length=1)
    services: list[ServiceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> EstateSpec:
        names = [s.name for s in self.services]
        if len(names) != len(set(names)):
            raise ValueError("service names must be unique")
        for svc in self.services:
            unknown = [d for d in svc.dependencies if d not in names]
            if unknown:
                raise ValueError(f"{svc.name}: unknown dependencies {unknown}")
        return self


def _state(spec: ServiceSpec, subscription: str, now: datetime) -> ServiceState:
    leaf = spec.name.rsplit("/", 1)[-1]
    resource_id = spec.resource_id or (
        f"/subscriptions/{subscription}/resourceGroups/{spec.resource_group}/providers/{spec.provider}/{leaf}"
    )
    # A plausible history: the previous release two weeks ago, the current one two days ago.
    history = [
        Deployment(v, iso(now - timedelta(days=age)), "ci-pipeline")
        for v, age in ((spec.previous_version, 14), (spec.version, 2))
        if v
    ]
    base = Baseline(**spec.baseline.model_dump())
    state = ServiceState(
        name=spec.name,
        environment=spec.environment,
        resource_group=spec.resource_group,
        resource_id=resource_id,
        version=spec.version,
        previous_version=spec.previous_version,
        replicas=spec.replicas,
        memory_pct=base.memory_pct,
        error_rate=base.error_rate,
        latency_ms=base.latency_ms,
        queue_depth=base.queue_depth,
        disk_pct=base.disk_pct,
        cert_days_left=float(spec.cert_days_left),
        dependencies=list(spec.dependencies),
        owner=spec.owner or f"team-{spec.resource_group.removeprefix('rg-')}",
        deployments=history,
        baseline=base,
    )
    state.log(iso(now), "INFO", f"{spec.version} running with {spec.replicas} replicas")
    return state


def load_estate(path: Path | None, now: datetime) -> list[ServiceState]:
    """Fresh states for the estate at `path` (the bundled estate.yaml when None)."""
    source = str(path) if path else "estate.yaml (bundled)"
    try:
        text = path.read_text() if path else resources.files("warden_sandbox").joinpath("estate.yaml").read_text()
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as err:
        raise EstateError(f"cannot load estate {source}: {err}") from err
    return estate_from(raw, now, source=source)


def estate_from(raw: object, now: datetime, *, source: str = "request") -> list[ServiceState]:
    """Fresh states for an estate given as data (a reset request carries one)."""
    try:
        spec = EstateSpec.model_validate(raw)
    except ValidationError as err:
        raise EstateError(f"cannot load estate {source}: {err}") from err
    return [_state(s, spec.subscription_id, now) for s in spec.services]
