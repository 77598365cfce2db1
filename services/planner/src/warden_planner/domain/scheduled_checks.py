"""What a scheduled task looks for in the estate's service views (read-only, untrusted data).

Each check reads numeric fields only; a view with a missing or non-numeric field is reported as
such rather than guessed at. Thresholds come from the task's params, with defaults here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from warden_contracts.events import TaskFinding

View = dict[str, Any]
Check = Callable[[Sequence[View], dict[str, Any]], list[TaskFinding]]

HEALTH_LIMITS = {"memory_pct": 85.0, "error_rate": 0.05, "disk_pct": 85.0, "queue_depth": 1000.0}
DEFAULT_CERT_DAYS = 21
DEFAULT_IDLE_MEMORY_PCT = 30.0


def _number(view: View, field: str) -> float | None:
    value = view.get(field)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _name(view: View) -> str:
    name = view.get("name")
    return name if isinstance(name, str) and name else "<unnamed>"


def health(views: Sequence[View], params: dict[str, Any]) -> list[TaskFinding]:
    limits = {k: float(params.get(k, v)) for k, v in HEALTH_LIMITS.items()}
    findings = []
    for view in views:
        metrics = {k: _number(view, k) for k in (*limits, "healthy", "cert_days_left")}
        problems = [f"{k} {metrics[k]:g} over {limit:g}" for k, limit in limits.items() if (metrics[k] or 0) > limit]
        if metrics["healthy"] == 0:
            problems.insert(0, "unhealthy")
        missing = [k for k, v in metrics.items() if v is None]
        if missing:
            problems.append(f"no value for {', '.join(missing)}")
        severity = "critical" if metrics["healthy"] == 0 else ("warning" if problems else "ok")
        summary = "; ".join(problems) if problems else "healthy, within limits"
        findings.append(TaskFinding(subject=_name(view), severity=severity, summary=summary, metrics=metrics))
    return findings


def cost(views: Sequence[View], params: dict[str, Any]) -> list[TaskFinding]:
    idle = float(params.get("idle_memory_pct", DEFAULT_IDLE_MEMORY_PCT))
    findings = []
    for view in views:
        replicas, memory = _number(view, "replicas"), _number(view, "memory_pct")
        metrics = {"replicas": replicas, "memory_pct": memory, "environment": view.get("environment")}
        if replicas is not None and memory is not None and replicas > 1 and memory < idle:
            summary = f"{replicas:g} replicas at {memory:g}% memory: capacity could be given back"
            findings.append(TaskFinding(subject=_name(view), severity="info", summary=summary, metrics=metrics))
        else:
            summary = f"{replicas:g} replica(s)" if replicas is not None else "no replica count"
            findings.append(TaskFinding(subject=_name(view), severity="ok", summary=summary, metrics=metrics))
    return findings


def cert_expiry(views: Sequence[View], params: dict[str, Any]) -> list[TaskFinding]:
    threshold = float(params.get("threshold_days", DEFAULT_CERT_DAYS))
    findings = []
    for view in views:
        days = _number(view, "cert_days_left")
        if days is None:
            findings.append(TaskFinding(subject=_name(view), severity="warning", summary="no certificate expiry"))
            continue
        expiring = days <= threshold
        findings.append(
            TaskFinding(
                subject=_name(view),
                severity=("critical" if days <= 7 else "warning") if expiring else "ok",
                summary=f"certificate expires in {days:g} days" + (" (renew)" if expiring else ""),
                metrics={"cert_days_left": days, "threshold_days": threshold},
            )
        )
    return findings


CHECKS: dict[str, Check] = {"health_check": health, "cost_report": cost, "cert_expiry": cert_expiry}
# Which findings warrant a catalog action, and which one (only for tasks that are not read-only).
REMEDIES: dict[str, str] = {"cert_expiry": "renew_certificate"}


def summarise(kind: str, findings: Sequence[TaskFinding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning", "info", "ok")}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{kind.replace('_', ' ')} over {len(findings)} service(s): {shown or 'nothing to check'}"
