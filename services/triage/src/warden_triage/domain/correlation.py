"""Which incident an alert belongs to: structure only (environment, service, class), never text.

The correlation key groups every alert about one kind of problem on one service in one
environment, whatever resource, instance or rule raised it. The service comes from the catalog
(by resource id, then by name); an alert the catalog does not know groups by the service it
names, or failing that by its source fingerprint (rule + resource).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from warden_contracts.canonical import sha256_hex
from warden_contracts.events import AlertReceived, SuppressionProposal

from warden_triage.domain.catalog import CatalogService, OpenAfter, ServiceCatalog
from warden_triage.domain.classification import Classifier
from warden_triage.domain.sources import SourceRegistry

ANNOUNCE_EVERY_UPDATE_UP_TO = 10
# At this many alerts one incident is paging far more than it informs: propose a quiet hour.
PROPOSE_SUPPRESSION_AT = 16
PROPOSED_SUPPRESSION = timedelta(hours=1)
# Distinct alert shapes remembered; in a storm a few hundred shapes repeat thousands of times.
CONTEXTS_REMEMBERED = 4096


@dataclass(frozen=True)
class AlertContext:
    key: str
    environment: str
    group: str
    incident_class: str
    service: str | None
    entry: CatalogService | None
    threshold: OpenAfter | None


class Correlator:
    def __init__(self, catalog: ServiceCatalog, classifier: Classifier, sources: SourceRegistry) -> None:
        self.catalog = catalog
        self._classifier = classifier
        self._sources = sources
        self._contexts: dict[tuple[object, ...], AlertContext] = {}

    def context(self, alert: AlertReceived) -> AlertContext:
        """A pure function of the alert's structural fields and labels (what the catalog, the
        classifier, the thresholds and the fingerprint may read), so it is computed once per
        shape: re-firings and a storm's alerts share it."""
        shape = (
            alert.source_kind,
            alert.rule,
            alert.resource_id,
            alert.service,
            alert.environment,
            alert.resource_group,
            alert.signal,
            tuple(sorted(alert.labels.items())),
        )
        known = self._contexts.get(shape)
        if known is None:
            if len(self._contexts) >= CONTEXTS_REMEMBERED:
                self._contexts.clear()  # bounded memory: a storm of ever-new shapes recomputes
            known = self._contexts[shape] = self._compute(alert)
        return known

    def _compute(self, alert: AlertReceived) -> AlertContext:
        entry = self.catalog.lookup(alert)
        # The catalog is the system of record for where a service runs; alert labels are not.
        environment = entry.environment if entry else alert.environment
        service = entry.name if entry else alert.service
        group = service or f"fingerprint:{self._sources.fingerprint(alert)}"
        incident_class = self._classifier.classify(alert).value
        key = sha256_hex({"environment": environment, "group": group, "class": incident_class})
        threshold = self.catalog.correlation.threshold(alert, incident_class)
        return AlertContext(key, environment, group, incident_class, service, entry, threshold)

    def related(self, context: AlertContext) -> set[str]:
        return self.catalog.related(context.entry.name) if context.entry else set()

    def root_of(self, services: set[str]) -> str | None:
        return self.catalog.root_of(services) if len(services) > 1 else None


def ready_to_open(threshold: OpenAfter | None, alerts: int, waiting_since: datetime, now: datetime) -> bool:
    """Whether alerts held for one key have enough evidence: `alerts` of them, or the oldest has
    waited `minutes` (when > 0). No threshold any more (the catalog changed while they were held)
    means nothing holds them. Asked when an alert arrives and by the periodic sweep alike."""
    if threshold is None or alerts >= threshold.alerts:
        return True
    return threshold.minutes > 0 and now - waiting_since >= timedelta(minutes=threshold.minutes)


def worth_announcing(alert_count: int) -> bool:
    """In a storm, every alert is recorded but not every one re-announces its incident: the
    first ten updates, then at every power of two, so downstream sees O(log n) events."""
    return alert_count <= ANNOUNCE_EVERY_UPDATE_UP_TO or alert_count & (alert_count - 1) == 0


def suppression_proposal(
    alert_count: int,
    services: tuple[str, ...],
    environment: str,
    rule: str,
    opened_at: datetime,
    now: datetime,
    *,
    added: int = 1,
) -> SuppressionProposal | None:
    """Proposed once per incident, by the change whose `added` alerts reached the proposal count
    (always an announced count); triage never applies it."""
    if not alert_count - added < PROPOSE_SUPPRESSION_AT <= alert_count:
        return None
    minutes = max(1, int((now - opened_at).total_seconds() // 60))
    return SuppressionProposal(
        services=list(services),
        environment=environment,
        rules=[rule],
        starts_at=now,
        ends_at=now + PROPOSED_SUPPRESSION,
        reason=f"{alert_count} alerts joined one incident within {minutes} min; further pages add no information",
    )
