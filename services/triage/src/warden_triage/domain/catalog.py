"""The service catalog: who owns a service, where it runs, what it depends on, and how triage
correlates its alerts. Data, validated before use (a bad catalog stops the start-up).

    services:
      - name: checkout-api
        environment: dev
        owner: team-shop
        commander_channel: "#inc-shop-dev"
        dependencies: [payments-api, cache-redis]
        resource_ids: [/subscriptions/.../sites/checkout-api]   # optional; case-insensitive
        kubernetes: [{cluster: aks-prod, namespace: shop, workload: checkout-api}]  # optional
        match_labels: [{job: checkout}]   # optional: every pair of one matcher must be on the alert
    correlation:
      window_minutes: 30          # alerts on dependent services this close together are one incident
      open_after:                 # hold back noisy classes until enough evidence arrived
        - {incident_class: disk_pressure, alerts: 3, minutes: 10}
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from warden_contracts.events import AlertReceived

from warden_triage.domain.classification import IncidentClass
from warden_triage.domain.kubernetes import workload_of

UNKNOWN_ENVIRONMENT = "unknown"


class CatalogError(ValueError):
    """The catalog document is invalid; the service must not start with it."""


class KubernetesRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str | None = None  # None: the workload on any cluster
    namespace: str = Field(min_length=1)
    workload: str = Field(min_length=1)


class CatalogService(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    commander_channel: str = Field(min_length=1)
    dependencies: list[str] = Field(default_factory=list)
    resource_ids: list[str] = Field(default_factory=list)
    kubernetes: list[KubernetesRef] = Field(default_factory=list)
    match_labels: list[dict[str, str]] = Field(default_factory=list)


class OpenAfter(BaseModel):
    """Open an incident only once `alerts` distinct alerts arrived, or (if `minutes` > 0) the
    first one has been pending that long: checked when another alert arrives and by triage's
    periodic sweep, so time alone opens it too. Until then alerts are held as pending
    (recorded, not lost); with `minutes` 0 only evidence opens it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_class: IncidentClass | None = None
    rule: str | None = None
    alerts: int = Field(default=1, ge=1, le=1000)
    minutes: int = Field(default=0, ge=0, le=24 * 60)

    @model_validator(mode="after")
    def _selects_something(self) -> OpenAfter:
        if self.incident_class is None and self.rule is None:
            raise ValueError("open_after needs incident_class or rule")
        if self.rule is not None:
            try:
                re.compile(self.rule)
            except re.error as err:
                raise ValueError(f"invalid regex {self.rule!r}: {err}") from None
        return self

    def applies(self, alert: AlertReceived, incident_class: str) -> bool:
        if self.incident_class is not None and self.incident_class.value != incident_class:
            return False
        return self.rule is None or re.search(self.rule, alert.rule) is not None


class Correlation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    open_after: list[OpenAfter] = Field(default_factory=list)

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    def threshold(self, alert: AlertReceived, incident_class: str) -> OpenAfter | None:
        return next((t for t in self.open_after if t.applies(alert, incident_class)), None)


UNAPPROVED_WINDOW_LIMIT = timedelta(hours=24)
APPROVED_WINDOW_LIMIT = timedelta(days=14)


class MaintenanceWindow(BaseModel):
    """Fired alerts of the selected services / environment inside [starts_at, ends_at) are
    recorded as suppressed instead of paging. Always bounded: longer than 24 hours needs the id of
    a policy approval, and nothing is longer than 14 days. Resolved alerts are never suppressed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    services: list[str] = Field(default_factory=list)
    environment: str | None = None
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1)
    approval_id: str | None = None

    @model_validator(mode="after")
    def _bounded(self) -> MaintenanceWindow:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a timezone")
        if not self.services and self.environment is None:
            raise ValueError("a window must select services or an environment, never everything")
        length = self.ends_at - self.starts_at
        if length <= timedelta(0):
            raise ValueError("ends_at must be after starts_at")
        if length > APPROVED_WINDOW_LIMIT:
            raise ValueError(f"a window may last at most {APPROVED_WINDOW_LIMIT.days} days")
        if length > UNAPPROVED_WINDOW_LIMIT and not self.approval_id:
            raise ValueError("a window longer than 24 hours needs approval_id (a policy approval)")
        return self

    def covers(self, service: str | None, environment: str, at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        if self.environment is not None and self.environment != environment:
            return False
        return not self.services or service in self.services


class ServiceCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    services: list[CatalogService] = Field(default_factory=list)
    correlation: Correlation = Field(default_factory=Correlation)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    _by_name: dict[str, CatalogService] = PrivateAttr(default_factory=dict)
    _by_resource: dict[str, CatalogService] = PrivateAttr(default_factory=dict)
    _by_workload: dict[tuple[str, str, str | None], CatalogService] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceCatalog:
        names = [s.name for s in self.services]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"service names repeat: {repeated}")
        unknown = sorted({d for s in self.services for d in s.dependencies} - set(names))
        if unknown:
            raise ValueError(f"dependencies on services not in the catalog: {unknown}")
        return self

    @classmethod
    def from_document(cls, document: Any) -> ServiceCatalog:
        try:
            return cls.model_validate(document or {})
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5]
            )
            raise CatalogError(f"invalid service catalog: {problems}") from None

    def model_post_init(self, _context: Any) -> None:
        self._by_name = {s.name: s for s in self.services}
        self._by_resource = {r.rstrip("/").lower(): s for s in self.services for r in s.resource_ids}
        self._by_workload = {(k.namespace, k.workload, k.cluster): s for s in self.services for k in s.kubernetes}

    def lookup(self, alert: AlertReceived) -> CatalogService | None:
        """By resource id (case-insensitive), label matcher, Kubernetes workload, then by the
        service name the alert carries. A name match never moves an alert to another environment
        than the one it states, nor claims an Azure resource the entry does not list (a
        same-named resource elsewhere is another resource)."""
        found = (
            self._by_resource.get(alert.resource_id.rstrip("/").lower())
            or self._by_labels(alert.labels)
            or self._by_kubernetes(alert.labels)
        )
        if found is None and alert.service:
            named = self._by_name.get(alert.service)
            if (
                named is not None
                and alert.environment in {named.environment, UNKNOWN_ENVIRONMENT}
                and not (named.resource_ids and alert.resource_id.lower().startswith("/subscriptions/"))
            ):
                found = named
        return found

    def maps(self, service: str | None, environment: str) -> bool:
        """Whether the estate knows this service in this environment (else the incident says so)."""
        entry = self._by_name.get(service) if service else None
        return entry is not None and entry.environment == environment

    def _by_labels(self, labels: dict[str, str]) -> CatalogService | None:
        if not labels:
            return None
        for service in self.services:
            for matcher in service.match_labels:
                if matcher and all(labels.get(k) == v for k, v in matcher.items()):
                    return service
        return None

    def _by_kubernetes(self, labels: dict[str, str]) -> CatalogService | None:
        workload = workload_of(labels) if self._by_workload else None
        if workload is None or workload.namespace is None:
            return None
        return self._by_workload.get((workload.namespace, workload.name, workload.cluster)) or self._by_workload.get(
            (workload.namespace, workload.name, None)
        )

    def related(self, name: str) -> set[str]:
        """Services one dependency hop away, either direction, in the same environment."""
        by_name = self._by_name
        me = by_name.get(name)
        if me is None:
            return set()
        near = set(me.dependencies) | {s.name for s in self.services if name in s.dependencies}
        return {n for n in near if by_name[n].environment == me.environment}

    def maintenance_window(self, service: str | None, environment: str, at: datetime) -> MaintenanceWindow | None:
        return next((w for w in self.maintenance if w.covers(service, environment, at)), None)

    def root_of(self, names: set[str]) -> str | None:
        """The alerting service the others depend on: none of its dependencies is alerting too."""
        by_name = self._by_name
        roots = sorted(n for n in names if n in by_name and not set(by_name[n].dependencies) & names)
        return roots[0] if len(roots) == 1 else None
