"""An incident on something the estate does not map: triage's note says so and carries the
warden.yaml snippet. There is nothing the planner may investigate (every observer would answer
"unknown service"), so it hands off at once with that note instead of probing for it."""

from __future__ import annotations

from warden_contracts.events import UNMAPPED_RESOURCE, IncidentChanged

from warden_planner.domain import injection
from warden_planner.domain.findings import Finding, note
from warden_planner.domain.runbooks import runbook_for


def unmapped_note(incident: IncidentChanged) -> str | None:
    return next((n for n in incident.notes if n.startswith(UNMAPPED_RESOURCE)), None)


def unmapped_handoff(incident: IncidentChanged, text: str) -> Finding:
    """The handoff for an unmapped incident: the class's runbook, no evidence, the note as the reason."""
    what = incident.service or incident.resource_id or incident.incident_id
    reason = f"{what} is not in the estate, so nothing was investigated or changed. {text}"
    return Finding(
        runbook=runbook_for(incident.incident_class).ref,
        summary=f"{what}: {UNMAPPED_RESOURCE}",
        hypotheses=[note(f"{what} is unmapped: handed off without investigating")],
        handoff=reason,
        trace=[f"unmapped: {what} is not in the estate; handed off without calling an observer"],
        suspicions=injection.findings(incident, []),
    )
