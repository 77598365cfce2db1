"""Event builders for tests: one plausible `IncidentChanged` instead of a copy in every test file.

Importable from any package's tests (test files cannot import each other); production code never uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import IncidentChanged, IncidentState, Severity

INCIDENT_TOPIC = "sre.incident.changed.v1"


def incident_payload(incident_id: str, **overrides: Any) -> IncidentChanged:
    """An opened Sev2 memory-pressure incident on checkout in dev; any field can be overridden."""
    fields: dict[str, Any] = {
        "incident_id": incident_id,
        "change": IncidentState.OPENED,
        "incident_class": "memory_pressure",
        "title": "t",
        "service": "checkout",
        "resource_id": "/r/checkout",
        "environment": "dev",
        "severity": Severity.SEV2,
        "fingerprint": "fp",
        "alert_count": 1,
        "opened_at": datetime.now(UTC),
    }
    return IncidentChanged(**(fields | overrides))


def incident(n: int | str, *, correlationid: str | None = None) -> Envelope:
    """Triage's envelope for incident `inc-{n}`, correlated by the incident id unless told otherwise."""
    return envelope_for(
        INCIDENT_TOPIC,
        incident_payload(f"inc-{n}"),
        source="warden/triage",
        correlationid=correlationid or f"inc-{n}",
    )
