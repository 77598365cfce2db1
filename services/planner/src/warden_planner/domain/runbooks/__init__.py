"""The runbook registry: incident class -> runbook; anything unknown falls back to handoff."""

from __future__ import annotations

from warden_planner.domain.runbooks import elevated_error_rate, handoff, memory_pressure
from warden_planner.domain.runbooks.base import Runbook, RunbookConfig, RunbookContext

RUNBOOKS: tuple[Runbook, ...] = (memory_pressure.RUNBOOK, elevated_error_rate.RUNBOOK)
FALLBACK: Runbook = handoff.RUNBOOK


def runbook_for(incident_class: str, runbooks: tuple[Runbook, ...] = RUNBOOKS) -> Runbook:
    for runbook in runbooks:
        if incident_class in runbook.triggers:
            return runbook
    return FALLBACK


__all__ = ["FALLBACK", "RUNBOOKS", "Runbook", "RunbookConfig", "RunbookContext", "runbook_for"]
