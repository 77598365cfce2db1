"""The planner port and its deterministic implementation over versioned runbooks.

A later LLM (ReAct) planner implements the same port; whatever a planner returns is vetted against
the catalog by the caller, so no implementation can propose an action the catalog refuses.
"""

from __future__ import annotations

from typing import Protocol

from warden_contracts.catalog import Catalog
from warden_contracts.events import IncidentChanged

from warden_planner.domain import injection
from warden_planner.domain.findings import Finding, note
from warden_planner.domain.observer import Clock, EvidenceLog, ObserverError, ObserverTools, ToolNotDeclared
from warden_planner.domain.runbooks import RUNBOOKS, Runbook, RunbookConfig, RunbookContext, runbook_for


class Planner(Protocol):
    async def investigate(self, incident: IncidentChanged) -> Finding: ...


class RunbookPlanner:
    def __init__(
        self,
        tools: ObserverTools,
        catalog: Catalog,
        clock: Clock,
        config: RunbookConfig | None = None,
        runbooks: tuple[Runbook, ...] = RUNBOOKS,
    ) -> None:
        self._tools = tools
        self._catalog = catalog
        self._clock = clock
        self._config = config or RunbookConfig()
        self._runbooks = runbooks

    async def investigate(self, incident: IncidentChanged) -> Finding:
        finding = await self._investigate(incident)
        finding.suspicions = injection.findings(incident, finding.evidence)
        return finding

    async def _investigate(self, incident: IncidentChanged) -> Finding:
        runbook = runbook_for(incident.incident_class, self._runbooks)
        log = EvidenceLog(self._tools, self._clock, runbook.tools)
        if not incident.service:
            reason = f"incident {incident.incident_id} names no service to investigate ({incident.resource_id})"
            return Finding(runbook=runbook.ref, summary=reason, handoff=reason)
        ctx = RunbookContext(
            incident=incident,
            target=incident.service,
            tools=log,
            config=self._config,
            catalog=self._catalog,
            now=self._clock(),
        )
        try:
            return await runbook.investigate(ctx)
        except (ObserverError, ToolNotDeclared) as err:
            reason = f"investigation stopped: {err}"
            return Finding(
                runbook=runbook.ref, summary=reason, hypotheses=[note(reason)], evidence=log.items, handoff=reason
            )
