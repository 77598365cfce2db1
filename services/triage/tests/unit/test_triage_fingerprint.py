"""Fingerprints hash declared structural fields only, and stay stable across firings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from warden_contracts.events import AlertReceived
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.fingerprint import fingerprint, validate_fields


def alert(**changes: Any) -> AlertReceived:
    base: dict[str, Any] = {
        "source_kind": "azure_monitor",
        "alert_id": "a-1",
        "rule": "High memory usage",
        "status": "Fired",
        "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/checkout",
        "fired_at": datetime(2026, 1, 1, tzinfo=UTC),
        "description": "working set 91%",
    }
    return AlertReceived(**(base | changes))


FIELDS = ("source_kind", "rule", "resource_id")


def test_same_structure_gives_same_fingerprint_whatever_the_free_text() -> None:
    first = fingerprint(alert(), FIELDS)
    again = fingerprint(
        alert(
            alert_id="a-2",
            description="working set 97%",
            status="Resolved",
            fired_at=datetime(2026, 2, 2, tzinfo=UTC),
            raw={"x": 1},
            severity="Sev0",
        ),
        FIELDS,
    )
    assert first == again
    assert len(first) == 64 and int(first, 16) >= 0


def test_fingerprint_is_a_known_value() -> None:
    # Pinned: a change in the hashing would split every open incident after an upgrade.
    canonical = (
        b'{"resource_id":"/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/checkout",'
        b'"rule":"High memory usage","source_kind":"azure_monitor"}'
    )
    assert fingerprint(alert(), FIELDS) == hashlib.sha256(canonical).hexdigest()


def test_resource_id_casing_does_not_split_incidents() -> None:
    lower = alert(resource_id="/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/checkout")
    assert fingerprint(lower, FIELDS) == fingerprint(alert(), FIELDS)


@pytest.mark.parametrize("change", [{"rule": "Disk pressure"}, {"resource_id": "/other"}, {"source_kind": "grafana"}])
def test_each_declared_field_distinguishes(change: dict[str, str]) -> None:
    assert fingerprint(alert(**change), FIELDS) != fingerprint(alert(), FIELDS)


def test_labels_can_be_declared_but_free_text_cannot() -> None:
    assert validate_fields(["rule", "labels.instance"]) == ("rule", "labels.instance")
    with_label = fingerprint(alert(labels={"instance": "a"}), ["rule", "labels.instance"])
    assert with_label != fingerprint(alert(labels={"instance": "b"}), ["rule", "labels.instance"])
    for bad in (["description"], ["raw"], ["fired_at"], ["labels."], [], ["rule", "rule"]):
        with pytest.raises(ValueError):
            validate_fields(bad)


def test_registry_uses_the_source_declared_fields() -> None:
    registry = builtin_registry()
    assert registry.fingerprint_fields("azure_monitor") == FIELDS
    assert registry.fingerprint(alert()) == fingerprint(alert(), FIELDS)
    assert sorted(registry.routes()) == ["alerts", "azure-monitor", "cloudevents", "grafana", "prometheus"]
