"""`evolved` is `dataclasses.replace` for an incident, cheaper: the same value, the same refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from warden_contracts.events import Severity
from warden_triage.domain.incident_book import most_severe
from warden_triage.domain.incident_model import Incident, IncidentStatus, evolved

T0 = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
INCIDENT = Incident(
    "inc-1", "key", "availability", "t", "api", "/r/api", "prod", None, Severity.SEV3, IncidentStatus.OPEN, T0, T0, 1
)


def test_evolved_is_replace() -> None:
    changes = {"alert_count": 2, "updated_at": T0 + timedelta(seconds=1), "services": ("api",), "root_service": "api"}
    got = evolved(INCIDENT, **changes)
    assert got == replace(INCIDENT, **changes) and type(got) is Incident
    assert vars(got) == vars(replace(INCIDENT, **changes))
    assert INCIDENT.alert_count == 1  # the original is untouched
    with pytest.raises(AttributeError):
        got.alert_count = 3  # type: ignore[misc]  # still frozen


def test_evolved_refuses_a_field_incidents_do_not_have() -> None:
    with pytest.raises(TypeError, match="alerts"):
        evolved(INCIDENT, alerts=2)


def test_the_most_severe_is_the_lowest_number_first_seen() -> None:
    assert most_severe([Severity.SEV3, Severity.SEV1, Severity.SEV4]) is Severity.SEV1
    assert most_severe([Severity.SEV0, Severity.SEV4]) is Severity.SEV0
    assert most_severe(s for s in [Severity.SEV2]) is Severity.SEV2
