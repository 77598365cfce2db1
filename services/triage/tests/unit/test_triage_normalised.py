"""The pass-through source for already-normalised AlertReceived bodies."""

from __future__ import annotations

from typing import Any

import pytest
from warden_triage.domain.normalised import NormalisedSource, parse_normalised
from warden_triage.domain.sources import NormalisationError


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source_kind": "sandbox",
        "alert_id": "a-1",
        "rule": "Queue backlog",
        "status": "Fired",
        "severity": "Sev2",
        "resource_id": "/subscriptions/s/resourceGroups/rg/providers/x/orders",
        "service": "orders",
        "fired_at": "2026-11-15T10:00:00Z",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def test_valid_body_round_trips() -> None:
    [alert] = NormalisedSource().normalise(body(environment="staging"))
    assert alert.alert_id == "a-1" and alert.service == "orders" and alert.environment == "staging"


def test_a_body_without_environment_is_unknown_never_dev() -> None:
    [alert] = NormalisedSource().normalise(body())
    assert alert.environment == "unknown"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("text", "$"),
        (body(status="Acknowledged"), "status"),
        (body(alert_id=None), "alert_id"),
        (body(alert_id=" "), "alert_id"),
        (body(fired_at="later"), "fired_at"),
        (body(labels={"a": ["x"]}), "labels.a"),
        (body(severity="Sev7"), "severity"),
    ],
)
def test_invalid_body_names_the_field(payload: Any, field: str) -> None:
    with pytest.raises(NormalisationError) as caught:
        parse_normalised(payload)
    assert caught.value.field == field
