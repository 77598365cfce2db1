"""The runbook registry: incident class -> runbook; anything unknown falls back to handoff."""

from __future__ import annotations

from warden_planner.domain.runbooks import (
    bad_deployment,
    certificate_expiry,
    crash_loop,
    disk_pressure,
    elevated_error_rate,
    failed_health_checks,
    handoff,
    high_latency,
    memory_pressure,
    queue_backlog,
    security_alert,
)
from warden_planner.domain.runbooks.base import Runbook, RunbookConfig, RunbookContext

# One runbook per triage class; `unknown` (and anything new) falls back to handoff.
RUNBOOKS: tuple[Runbook, ...] = (
    memory_pressure.RUNBOOK,
    elevated_error_rate.RUNBOOK,
    bad_deployment.RUNBOOK,
    crash_loop.RUNBOOK,
    failed_health_checks.RUNBOOK,
    high_latency.RUNBOOK,
    queue_backlog.RUNBOOK,
    certificate_expiry.RUNBOOK,
    disk_pressure.RUNBOOK,
    security_alert.RUNBOOK,
)
FALLBACK: Runbook = handoff.RUNBOOK


def runbook_for(incident_class: str, runbooks: tuple[Runbook, ...] = RUNBOOKS) -> Runbook:
    for runbook in runbooks:
        if incident_class in runbook.triggers:
            return runbook
    return FALLBACK


__all__ = ["FALLBACK", "RUNBOOKS", "Runbook", "RunbookConfig", "RunbookContext", "runbook_for"]
