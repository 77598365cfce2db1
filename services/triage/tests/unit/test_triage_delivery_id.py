"""The delivery id of every built-in source: a re-sent notification keeps its id (a duplicate the
broker and triage drop), a Resolved gets its own, and a firing after a Resolved gets a new one (a new
episode, never silently dropped as the first firing's duplicate)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.fingerprint import delivery_id

FIXTURES = Path(__file__).parent.parent / "fixtures"
REGISTRY = builtin_registry()


def ids(route: str, payload: dict[str, Any]) -> list[str]:
    source = REGISTRY.by_route(route)
    assert source is not None
    return [delivery_id(alert) for alert in source.normalise(payload)]


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _alertmanager_refire(payload: dict[str, Any]) -> dict[str, Any]:
    refired = copy.deepcopy(payload)
    for alert in refired["alerts"]:
        alert["startsAt"] = "2026-11-15T15:00:00Z"
    return refired


def _azure_refire(payload: dict[str, Any]) -> dict[str, Any]:
    refired = copy.deepcopy(payload)
    refired["data"]["essentials"]["firedDateTime"] = "2026-11-15T15:00:00Z"
    return refired


def _cloudevent_refire(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "id": "a-new-event-id", "time": "2026-11-15T15:00:00Z"}


def _cloudevent_resolved(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "id": "the-resolving-event", "type": "com.example.uptime.alert.resolved"}


@pytest.mark.parametrize(
    ("route", "fired", "resolved", "refire"),
    [
        ("azure-monitor", load("azure_metric_fired.json"), load("azure_metric_resolved.json"), _azure_refire),
        ("prometheus", load("prometheus_grouped_firing.json"), load("prometheus_grouped_resolved.json"),
         _alertmanager_refire),
        ("grafana", load("grafana_firing.json"), load("grafana_resolved.json"), _alertmanager_refire),
        ("cloudevents", load("cloudevents_structured.json"), _cloudevent_resolved(load("cloudevents_structured.json")),
         _cloudevent_refire),
    ],
)
def test_retry_is_a_duplicate_resolve_and_refire_are_not(
    route: str, fired: dict[str, Any], resolved: dict[str, Any], refire: Any
) -> None:
    first = ids(route, fired)
    assert ids(route, copy.deepcopy(fired)) == first
    after_resolve = ids(route, resolved)
    again = ids(route, refire(fired))
    assert not set(first) & set(after_resolve)
    assert not set(again) & (set(first) | set(after_resolve))


def test_a_cloudevent_is_identified_by_source_and_id_not_by_its_time() -> None:
    event = load("cloudevents_structured.json")
    assert ids("cloudevents", {**event, "time": "2026-11-15T14:00:00Z"}) == ids("cloudevents", event)
    assert ids("cloudevents", {**event, "source": "//another.example.com"}) != ids("cloudevents", event)
