"""The estate file schema, version 1 (pydantic v2; unknown keys are refused, so typos surface).

Cross-file consistency (plans name known services, nothing claimed twice, approver groups
declared) is checked separately in `checks.py`, where each problem gets a line and a fix.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
# Where Warden may act. `unknown` is triage's answer for an alert the estate does not map and is
# never a value an estate may declare.
Environment = Literal["dev", "staging", "prod"]
RunMode = Literal["review", "autonomous", "shadow"]
# `service` or `namespace/service`, as the sandbox's HTTP routes and the catalog's targets expect.
SERVICE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}(/[a-z0-9][a-z0-9-]{0,62})?$"
TASK_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
VERSION = r"^v[0-9]+(\.[0-9]+){0,2}$"
ANY = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubernetesWorkload(_Strict):
    """A Deployment, StatefulSet or DaemonSet; alerts name it by label (see docs/alert-sources.md)."""

    cluster: str | None = Field(default=None, min_length=1)
    namespace: str = Field(min_length=1, max_length=63)
    workload: str = Field(min_length=1, max_length=253)


class Simulation(_Strict):
    """How the embedded sandbox simulates the service (only the sandbox reads this)."""

    version: str = Field(default="v1.0.0", pattern=VERSION)
    previous_version: str | None = Field(default=None, pattern=VERSION)
    replicas: int = Field(default=2, ge=1, le=10)
    provider: str = "Microsoft.Web/sites"
    resource_group: str | None = Field(default=None, min_length=1)
    # The resource the sandbox's own alerts target; default: the first Azure resource id.
    resource_id: str | None = Field(default=None, min_length=1)
    cert_days_left: int = Field(default=180, gt=14)
    baseline: dict[str, float] = Field(default_factory=dict)


class Service(_Strict):
    name: str = Field(pattern=SERVICE_NAME)
    environment: Environment
    owner: str = Field(min_length=1, max_length=100)
    commander_channel: str | None = Field(default=None, min_length=1)
    dependencies: list[str] = Field(default_factory=list)
    # Azure resource IDs; compared case-insensitively, as Azure does.
    azure_resource_ids: list[str] = Field(default_factory=list)
    kubernetes: list[KubernetesWorkload] = Field(default_factory=list)
    # Prometheus/Grafana label matchers: an alert whose labels hold every pair of one matcher is
    # this service's.
    match_labels: list[dict[str, str]] = Field(default_factory=list)
    simulation: Simulation = Field(default_factory=Simulation)


class PlanMatch(_Strict):
    incident_classes: list[str] = Field(default_factory=lambda: [ANY])
    environments: list[str] = Field(default_factory=lambda: [ANY])
    services: list[str] = Field(default_factory=lambda: [ANY])


class ResponsePlan(_Strict):
    name: str = Field(min_length=1)
    match: PlanMatch = Field(default_factory=PlanMatch)
    run_mode: RunMode
    approval_timeout_s: int | None = Field(default=None, gt=0)


class ScheduledTask(_Strict):
    name: str = Field(pattern=TASK_NAME)
    cron: str = Field(min_length=9)
    kind: Literal["health_check", "cost_report", "cert_expiry"]
    description: str = ""
    read_only: bool = True
    enabled: bool = True
    # Default: autonomous for a read-only task, the agent default otherwise (the policy decides).
    run_mode: RunMode | None = None
    approval_timeout_s: int | None = Field(default=None, gt=0)
    services: list[str] = Field(default_factory=lambda: [ANY])
    params: dict[str, Any] = Field(default_factory=dict)


class Agent(_Strict):
    default_run_mode: Literal["review", "autonomous"] = "review"
    access_level: Literal["privileged", "reader"] = "privileged"
    approval_timeout_s: int = Field(default=900, gt=0)


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Day] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ChangeWindow(_Strict):
    days: list[Day] = Field(default_factory=lambda: list(ALL_DAYS))
    start: time = time(0, 0)
    end: time = time(23, 59, 59)


class Approver(_Strict):
    name: str = Field(min_length=1)
    groups: list[str] = Field(min_length=1)


class Approvers(_Strict):
    # Every group a user names must be declared here; the Cedar policy says what each may approve.
    groups: list[str] = Field(default_factory=lambda: ["sre-oncall", "sre-leads", "viewers"])
    users: list[Approver] = Field(default_factory=list)


class SandboxObserver(_Strict):
    """The embedded simulated estate: every service of the file is simulated when enabled."""

    enabled: bool = True
    subscription_id: str = "00000000-0000-0000-0000-000000000000"


class PrometheusObserver(_Strict):
    url: str = Field(pattern=r"^https?://")


class AzureMonitorObserver(_Strict):
    workspace_id: str = Field(min_length=1)
    endpoint: str | None = Field(default=None, pattern=r"^https://")


class Observers(_Strict):
    sandbox: SandboxObserver = Field(default_factory=SandboxObserver)
    prometheus: PrometheusObserver | None = None
    azure_monitor: AzureMonitorObserver | None = None


# Fixed by default so an Alertmanager or an Azure action group pointing at Warden keeps working
# across restarts. 0 (or `random: true`) picks a free port.
DEFAULT_PORTS: dict[str, int] = {
    "triage": 7480,  # the alert webhooks
    "console": 7481,
    "sandbox": 7482,
    "audit": 7483,
    "planner": 7484,
    "policy": 7485,
    "executor": 7486,
    "scheduler": 7487,
    "nats": 7422,
}


class Ports(_Strict):
    triage: int = Field(default=DEFAULT_PORTS["triage"], ge=0, le=65535)
    console: int = Field(default=DEFAULT_PORTS["console"], ge=0, le=65535)
    sandbox: int = Field(default=DEFAULT_PORTS["sandbox"], ge=0, le=65535)
    audit: int = Field(default=DEFAULT_PORTS["audit"], ge=0, le=65535)
    planner: int = Field(default=DEFAULT_PORTS["planner"], ge=0, le=65535)
    policy: int = Field(default=DEFAULT_PORTS["policy"], ge=0, le=65535)
    executor: int = Field(default=DEFAULT_PORTS["executor"], ge=0, le=65535)
    scheduler: int = Field(default=DEFAULT_PORTS["scheduler"], ge=0, le=65535)
    nats: int = Field(default=DEFAULT_PORTS["nats"], ge=0, le=65535)


class Listen(_Strict):
    host: Literal["127.0.0.1"] = "127.0.0.1"
    ports: Ports = Field(default_factory=Ports)
    random: bool = False


class OpenAfter(_Strict):
    incident_class: str | None = None
    rule: str | None = None
    alerts: int = Field(default=1, ge=1, le=1000)
    minutes: int = Field(default=0, ge=0, le=24 * 60)


class Correlation(_Strict):
    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    open_after: list[OpenAfter] = Field(default_factory=list)


class Estate(_Strict):
    version: Literal[1]
    name: str = "warden"
    services: list[Service] = Field(min_length=1)
    agent: Agent = Field(default_factory=Agent)
    response_plans: list[ResponsePlan] = Field(default_factory=list)
    scheduled_tasks: list[ScheduledTask] = Field(default_factory=list)
    change_windows: dict[Environment, list[ChangeWindow]] = Field(default_factory=dict)
    approvers: Approvers = Field(default_factory=Approvers)
    observers: Observers = Field(default_factory=Observers)
    listen: Listen = Field(default_factory=Listen)
    correlation: Correlation = Field(default_factory=Correlation)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def ports(self) -> dict[str, int]:
        """Port per listener; 0 means "pick a free one" (all of them with `random: true`)."""
        if self.listen.random:
            return dict.fromkeys(DEFAULT_PORTS, 0)
        return self.listen.ports.model_dump()
