"""What one store transaction writes when alerts open an incident or join one, and the change
event that announces it. The incident tracker decides which; this module only records it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from warden_contracts.canonical import sha256_hex
from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState, Severity, SuppressionProposal

from warden_triage.domain.correlation import AlertContext, Correlator, suppression_proposal, worth_announcing
from warden_triage.domain.incident_model import (
    AlertLink,
    AlertStatus,
    Incident,
    IncidentStatus,
    IncidentTransaction,
    evolved,
)
from warden_triage.domain.unmapped import unmapped_note

ALERT_IDS_IN_EVENT = 100
ALERT_TEXTS_IN_EVENT = 5
ALERT_TEXT_CHARS = 1000


def alert_text(alerts: list[AlertReceived]) -> list[str]:
    """The first alerts' descriptions, as sent (untrusted): what the planner scans for injection."""
    texts = dict.fromkeys(a.description[:ALERT_TEXT_CHARS] for a in alerts if a.description)
    return list(texts)[:ALERT_TEXTS_IN_EVENT]


def new_incident_id() -> str:
    return f"inc-{secrets.token_hex(6)}"


def held_incident_id(key: str, first_message_id: str) -> str:
    """The id of the incident a held group opens, the same whoever opens it (the sweep or the
    alert completing the group) and however often: a release announced but not committed is
    retried under the id already announced, never a second one."""
    return f"inc-{sha256_hex({'key': key, 'first': first_message_id})[:12]}"


def most_severe(severities: Iterable[Severity]) -> Severity:
    return min(severities)  # members are their values' strings, and "Sev0" is the most severe


class IncidentBook:
    def __init__(self, correlator: Correlator, incident_ids: Callable[[], str] = new_incident_id) -> None:
        self._correlator = correlator
        self._incident_ids = incident_ids

    async def related_incident(self, tx: IncidentTransaction, ctx: AlertContext, now: datetime) -> Incident | None:
        """An open incident on a service one dependency away, touched within the window: the
        same outage seen from another service, so no competing incident is opened."""
        related = self._correlator.related(ctx)
        if not related:
            return None
        window = self._correlator.catalog.correlation.window
        recent = [i for i in await tx.open_incidents_in(ctx.environment, related) if now - i.updated_at <= window]
        return max(recent, key=lambda i: i.updated_at) if recent else None

    async def open(
        self,
        tx: IncidentTransaction,
        alerts: list[AlertReceived],
        ctx: AlertContext,
        now: datetime,
        incident_id: str | None = None,
    ) -> IncidentChanged:
        first = alerts[0]
        target = ctx.service or first.resource_id
        incident = Incident(
            id=incident_id or self._incident_ids(),
            fingerprint=ctx.key,
            incident_class=ctx.incident_class,
            title=f"{first.rule} on {target}",
            service=ctx.service,
            resource_id=first.resource_id,
            environment=ctx.environment,
            resource_group=first.resource_group,
            severity=most_severe(a.severity for a in alerts),
            status=IncidentStatus.OPEN,
            opened_at=now,
            updated_at=now,
            alert_count=len(alerts),
            owner=ctx.entry.owner if ctx.entry else None,
            commander_channel=ctx.entry.commander_channel if ctx.entry else None,
            services=(ctx.service,) if ctx.service else (),
        )
        await tx.save_incident(incident)
        for alert in alerts:
            await tx.save_link(AlertLink(alert.alert_id, incident.id, AlertStatus.FIRED, now))
        opened = await self.changed(tx, incident, IncidentState.OPENED)
        return opened.model_copy(update={"alert_text": alert_text(alerts)})

    async def attach(
        self,
        tx: IncidentTransaction,
        incident: Incident,
        alerts: list[AlertReceived],
        ctx: AlertContext,
        now: datetime,
    ) -> IncidentChanged | None:
        """Attaches `alerts` (of one correlation key, the newest last) to an open incident; the
        change is announced when it is material or its alert count reached an announced one."""
        services = incident.services
        if ctx.service and ctx.service not in services:
            services = (*services, ctx.service)
        updated = evolved(
            incident,
            alert_count=incident.alert_count + len(alerts),
            updated_at=now,
            severity=most_severe([incident.severity, *(a.severity for a in alerts)]),
            services=services,
            root_service=self._correlator.root_of(set(services)) or incident.root_service,
        )
        await tx.save_incident(updated)
        for alert in alerts:
            await tx.save_link(AlertLink(alert.alert_id, incident.id, AlertStatus.FIRED, now))
        material = (updated.severity, updated.services, updated.root_service) != (
            incident.severity,
            incident.services,
            incident.root_service,
        )
        counts = range(incident.alert_count + 1, updated.alert_count + 1)
        if not material and not any(worth_announcing(n) for n in counts):
            return None
        proposal = suppression_proposal(
            updated.alert_count,
            updated.services,
            updated.environment,
            alerts[-1].rule,
            updated.opened_at,
            now,
            added=len(alerts),
        )
        return await self.changed(tx, updated, IncidentState.UPDATED, proposal)

    async def changed(
        self,
        tx: IncidentTransaction,
        incident: Incident,
        change: IncidentState,
        proposal: SuppressionProposal | None = None,
    ) -> IncidentChanged:
        links = await tx.links_of_incident(incident.id, limit=ALERT_IDS_IN_EVENT)
        return IncidentChanged(
            incident_id=incident.id,
            change=change,
            incident_class=incident.incident_class,
            title=incident.title,
            service=incident.service,
            resource_id=incident.resource_id,
            environment=incident.environment,
            resource_group=incident.resource_group,
            severity=incident.severity,
            fingerprint=incident.fingerprint,
            alert_count=incident.alert_count,
            alert_ids=[link.alert_id for link in links],
            opened_at=incident.opened_at,
            owner=incident.owner,
            commander_channel=incident.commander_channel,
            services=list(incident.services),
            root_service=incident.root_service,
            suppression_proposal=proposal,
            notes=self._notes(incident),
        )

    def _notes(self, incident: Incident) -> list[str]:
        if self._correlator.catalog.maps(incident.service, incident.environment):
            return []
        return [unmapped_note(incident.service, incident.environment, incident.resource_id)]
