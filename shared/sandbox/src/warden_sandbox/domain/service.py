"""One simulated service: metrics, active faults, deployment history and recent log lines."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

# Enough lines for an investigation window; older lines fall off like a real log tail.
LOG_CAPACITY = 200


@dataclass
class Deployment:
    version: str
    at: str
    by: str


@dataclass
class Fault:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    log_text: str | None = None
    injected_at: str = ""
    ticks: int = 0


@dataclass
class Baseline:
    """Where a healthy service's metrics settle when no fault drives them."""

    memory_pct: float = 46.0
    error_rate: float = 0.004
    latency_ms: float = 120.0
    queue_depth: int = 0
    disk_pct: float = 35.0


@dataclass
class ServiceState:
    name: str
    environment: str
    resource_group: str
    resource_id: str
    version: str
    replicas: int = 2
    previous_version: str | None = None
    healthy: int = 1
    memory_pct: float = 46.0
    error_rate: float = 0.004
    latency_ms: float = 120.0
    queue_depth: int = 0
    disk_pct: float = 35.0
    cert_days_left: float = 180.0
    restarts: int = 0
    owner: str = ""
    faults: list[Fault] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    baseline: Baseline = field(default_factory=Baseline)

    def fault(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def remove_fault(self, kind: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.kind != kind]
        return len(self.faults) != before

    def log(self, at: str, level: str, message: str) -> None:
        self.logs.append(f"{at} {level} {self.name}: {message}")

    def deploy(self, version: str, at: str, by: str) -> None:
        self.previous_version = self.version
        self.version = version
        self.deployments.append(Deployment(version, at, by))

    def view(self) -> dict[str, Any]:
        """The read model every client sees (ServiceView in docs/architecture.md).

        Injected faults are deliberately absent: they are the answer key, and the Observer must
        diagnose from symptoms the way it would in a real estate."""
        return {
            "name": self.name,
            "environment": self.environment,
            "resource_group": self.resource_group,
            "resource_id": self.resource_id,
            "replicas": self.replicas,
            "version": self.version,
            "previous_version": self.previous_version,
            "healthy": self.healthy,
            "memory_pct": round(self.memory_pct, 1),
            "error_rate": round(self.error_rate, 4),
            "latency_ms": round(self.latency_ms, 1),
            "queue_depth": int(self.queue_depth),
            "disk_pct": round(self.disk_pct, 1),
            "cert_days_left": int(self.cert_days_left),
            "restarts": self.restarts,
            "dependencies": list(self.dependencies),
            "owner": self.owner,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logs"] = list(self.logs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceState:
        fields = dict(data)
        fields["faults"] = [Fault(**f) for f in data.get("faults", [])]
        fields["deployments"] = [Deployment(**d) for d in data.get("deployments", [])]
        fields["logs"] = deque(data.get("logs", []), maxlen=LOG_CAPACITY)
        fields["baseline"] = Baseline(**data.get("baseline", {}))
        return cls(**fields)
