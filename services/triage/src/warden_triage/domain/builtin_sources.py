"""The sources triage ships with; later sources (Prometheus, Grafana, CloudEvents) join here."""

from __future__ import annotations

from warden_triage.domain.azure_monitor import SOURCE_KIND as AZURE_MONITOR
from warden_triage.domain.azure_monitor import AzureMonitorSource
from warden_triage.domain.normalised import NormalisedSource
from warden_triage.domain.sources import SourceRegistry


def builtin_registry() -> SourceRegistry:
    registry = SourceRegistry()
    registry.register(
        AzureMonitorSource(), source_kind=AZURE_MONITOR, fingerprint_fields=("source_kind", "rule", "resource_id")
    )
    registry.register(NormalisedSource(), source_kind=None)
    return registry
