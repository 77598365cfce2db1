"""Alerts with a known answer: alert storms for the storm tests and `warden bench triage`, and one
Azure Monitor memory alert (`memory_alert`) for the incident-tracking tests.

`problems` underlying problems, each one kind of failure on one service, spread over
`resources_per_problem` resources (pods) of that service; every resource fires repeatedly (new
episodes), so `alerts` distinct alerts arrive as Alertmanager v4 webhook groups. The right
answer is one incident per problem holding exactly that problem's alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from warden_contracts.canonical import sha256_hex
from warden_contracts.events import AlertReceived

# One rule per runbook class, so the classes of the incidents are known too.
STORM_RULES = (
    ("HighMemoryUsage", "memory_pressure"),
    ("HighErrorRate", "elevated_error_rate"),
    ("QueueBacklog", "queue_backlog"),
    ("CertificateExpiring", "certificate_expiry"),
    ("DiskPressure", "disk_pressure"),
    ("HealthCheckFailing", "failed_health_checks"),
    ("KubePodCrashLooping", "crash_loop"),
)
STORM_START = datetime(2026, 11, 15, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Storm:
    groups: list[dict[str, Any]]  # Alertmanager webhook bodies, in sending order
    alerts: int
    problems: int
    alerts_per_problem: dict[str, int]  # service -> alerts
    class_of: dict[str, str]  # service -> incident class


def _alert(service: str, rule: str, pod: str, episode: int) -> dict[str, Any]:
    starts = STORM_START + timedelta(seconds=episode)
    labels = {"alertname": rule, "service": service, "pod": pod, "environment": "prod", "severity": "warning"}
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{rule} on {pod}"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": sha256_hex([service, pod, rule])[:16],
    }


def storm(
    *,
    alerts: int = 10_000,
    problems: int = 50,
    resources_per_problem: int = 4,
    group_size: int = 100,
    prefix: str = "storm",
) -> Storm:
    """`prefix` names the services (`<prefix>-svc-NNN`): two storms with different prefixes open
    incidents of their own, shaped alike."""
    if alerts % (problems * resources_per_problem):
        raise ValueError("alerts must be a multiple of problems * resources_per_problem")
    episodes = alerts // (problems * resources_per_problem)
    flat: list[dict[str, Any]] = []
    per_problem: dict[str, int] = {}
    class_of: dict[str, str] = {}
    # Interleaved as a real storm is: every problem fires a little, then all of them again.
    for episode in range(episodes):
        for p in range(problems):
            service = f"{prefix}-svc-{p:03d}"
            rule, incident_class = STORM_RULES[p % len(STORM_RULES)]
            class_of[service] = incident_class
            for r in range(resources_per_problem):
                flat.append(_alert(service, rule, f"{service}-pod-{r}", episode))
                per_problem[service] = per_problem.get(service, 0) + 1
    groups = [
        {
            "version": "4",
            "groupKey": f"storm:{i}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "warden",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": flat[i : i + group_size],
        }
        for i in range(0, len(flat), group_size)
    ]
    return Storm(groups, len(flat), problems, per_problem, class_of)


def memory_alert(alert_id: str, status: str = "Fired", **changes: Any) -> AlertReceived:
    """A Sev3 high-memory alert on prod checkout in rg-a; any field can be overridden."""
    base: dict[str, Any] = {
        "source_kind": "azure_monitor",
        "alert_id": alert_id,
        "rule": "High memory usage",
        "status": status,
        "severity": "Sev3",
        "resource_id": "/subscriptions/s/resourceGroups/rg-a/providers/x/sites/checkout",
        "service": "checkout",
        "environment": "prod",
        "resource_group": "rg-a",
        "fired_at": datetime(2026, 11, 15, 9, 59, tzinfo=UTC),
    }
    return AlertReceived(**(base | changes))
