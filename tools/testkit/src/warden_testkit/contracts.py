"""Event builders for tests: one plausible `IncidentChanged` or `AlertReceived` envelope instead
of a copy in every test file.

Importable from any package's tests (test files cannot import each other); production code never uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import AlertReceived, IncidentChanged, IncidentState, Severity

INCIDENT_TOPIC = "sre.incident.changed.v1"
ALERT_TOPIC = "sre.alert.received.v1"


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


def alert(n: int, *, id_prefix: str | None = "alert") -> Envelope:
    """A firing sandbox alert `a-{n}` as an ingest would publish it, with id `{id_prefix}-{n}`
    (`None`: a random id)."""
    payload = AlertReceived(
        source_kind="sandbox",
        alert_id=f"a-{n}",
        rule="memory",
        status="Fired",
        resource_id="/r/checkout",
        fired_at=datetime.now(UTC),
    )
    message_id = None if id_prefix is None else f"{id_prefix}-{n}"
    return envelope_for(ALERT_TOPIC, payload, source="test/ingest", correlationid=f"alert:a-{n}", id=message_id)
