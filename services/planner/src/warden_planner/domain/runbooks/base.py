"""What a runbook is: a versioned procedure over declared read-only tools, as code.

Each runbook module declares its name and version, the incident classes that trigger it, the tools
and diagnostic steps it uses, the hypotheses it weighs, the catalog actions it may propose (and how
their parameters derive from evidence), when it escalates, and the targets it never touches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warden_contracts.catalog import Catalog, default_catalog
from warden_contracts.events import IncidentChanged

from warden_planner.domain.findings import Finding
from warden_planner.domain.observer import EvidenceLog, ObserverError

# Every runbook starts from the catalog's do-not-touch list and may only add to it.
CATALOG_DO_NOT_TOUCH: tuple[str, ...] = tuple(default_catalog().denied_targets)


@dataclass(frozen=True)
class RunbookConfig:
    memory_threshold_pct: float = 80.0
    memory_deploy_window_min: int = 30
    recent_deploy_window_min: int = 60
    log_lines: int = 20
    max_dependencies: int = 10
    # Mirror the monitor's alert thresholds: below them the symptom is gone.
    error_rate_threshold: float = 0.05
    queue_threshold: int = 1000
    cert_days_threshold: int = 14
    disk_threshold_pct: float = 90.0
    latency_threshold_ms: float = 300.0


@dataclass(frozen=True)
class CandidateSpec:
    kind: str
    params_from: str


@dataclass
class RunbookContext:
    incident: IncidentChanged
    target: str
    tools: EvidenceLog
    config: RunbookConfig
    catalog: Catalog
    now: datetime


@dataclass(frozen=True)
class Runbook:
    name: str
    version: int
    triggers: tuple[str, ...]
    tools: tuple[str, ...]
    steps: tuple[str, ...]
    hypotheses: tuple[str, ...]
    candidates: tuple[CandidateSpec, ...]
    escalation: tuple[str, ...]
    do_not_touch: tuple[str, ...]
    investigate: Callable[[RunbookContext], Awaitable[Finding]]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Deployment:
    version: str
    at: datetime | None
    by: str


# Resource providers whose instances hold data: restarting one is not a harmless retry.
STATEFUL_PROVIDERS = (
    "microsoft.cache/",
    "microsoft.sql/",
    "microsoft.dbfor",
    "microsoft.documentdb/",
    "microsoft.storage/",
    "microsoft.servicebus/",
    "microsoft.eventhub/",
    "microsoft.keyvault/",
)


def stateful_reason(view: dict[str, Any]) -> str | None:
    """Why a service's instances are not safe to restart blindly; None when it is stateless.

    A `stateful` flag in the view wins; else a StatefulSet workload or a data-store resource."""
    flag = view.get("stateful")
    if isinstance(flag, bool):
        return "the service is marked stateful" if flag else None
    kind = view.get("workload_kind")
    if isinstance(kind, str) and kind.lower() == "statefulset":
        return "the workload is a StatefulSet"
    resource = view.get("resource_id")
    if isinstance(resource, str):
        provider = resource.partition("/providers/")[2]
        if provider.lower().startswith(STATEFUL_PROVIDERS):
            return f"{'/'.join(provider.split('/')[:2])} holds state"
    return None


def number(view: dict[str, Any], name: str) -> float:
    """A numeric field of a tool answer; a missing or non-numeric value stops the investigation."""
    value = view.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ObserverError(f"service view field {name!r} is missing or not a number: {value!r}")
    return float(value)


def text(view: dict[str, Any], name: str) -> str | None:
    value = view.get(name)
    return value if isinstance(value, str) and value else None


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def deployments_of(raw: list[dict[str, Any]]) -> list[Deployment]:
    out = []
    for item in raw:
        version = item.get("version")
        if isinstance(version, str) and version:
            by = item.get("by")
            out.append(Deployment(version, parse_time(item.get("at")), by if isinstance(by, str) else ""))
    return out


def minutes_since(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds() / 60


def previous_version(view: dict[str, Any], deployments: list[Deployment]) -> str | None:
    """The version before the running one: the service view's own field, else the deploy history."""
    declared = text(view, "previous_version")
    if declared:
        return declared
    current = text(view, "version")
    earlier = [d.version for d in deployments if d.version != current]
    return earlier[-1] if earlier else None
