"""The sources triage ships with, and the structural fields each one's fingerprint hashes.

Azure Monitor names the resource precisely, so rule + resource is one problem. Alertmanager and
Grafana already group per rule and label set and address instances (pods, scrape targets) that
come and go, so their alerts fingerprint per rule, environment and service instead.
"""

from __future__ import annotations

from warden_triage.domain.alertmanager import GRAFANA, PROMETHEUS, AlertmanagerSource, GrafanaSource
from warden_triage.domain.azure_monitor import SOURCE_KIND as AZURE_MONITOR
from warden_triage.domain.azure_monitor import AzureMonitorSource
from warden_triage.domain.cloudevents_alert import SOURCE_KIND as CLOUDEVENTS
from warden_triage.domain.cloudevents_alert import CloudEventsSource
from warden_triage.domain.normalised import NormalisedSource
from warden_triage.domain.sources import SourceRegistry

PER_SERVICE = ("source_kind", "rule", "environment", "service")


def builtin_registry() -> SourceRegistry:
    registry = SourceRegistry()
    registry.register(
        AzureMonitorSource(), source_kind=AZURE_MONITOR, fingerprint_fields=("source_kind", "rule", "resource_id")
    )
    registry.register(AlertmanagerSource(), source_kind=PROMETHEUS, fingerprint_fields=PER_SERVICE)
    registry.register(GrafanaSource(), source_kind=GRAFANA, fingerprint_fields=PER_SERVICE)
    registry.register(
        CloudEventsSource(), source_kind=CLOUDEVENTS, fingerprint_fields=("source_kind", "rule", "resource_id")
    )
    registry.register(NormalisedSource(), source_kind=None)
    return registry
