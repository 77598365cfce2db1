"""`warden_triage.api`: which webhook `warden ingest FILE` posts to, each sender's route and the
routes switched to HMAC (what `warden up` and `warden connect` print)."""

from __future__ import annotations

import pytest
from warden_triage.api import HMAC_SECRETS_VARIABLE, SENDERS, UnknownSource, hmac_routes, webhook_route
from warden_triage.domain.builtin_sources import builtin_registry


def test_a_named_source_or_a_guess_picks_the_route() -> None:
    assert webhook_route("prometheus", {}) == ("prometheus", "prometheus")
    assert webhook_route(None, {"schemaId": "azureMonitorCommonAlertSchema"}) == ("azure_monitor", "azure-monitor")
    assert webhook_route(None, {"title": "x"}) == ("normalised", "alerts")


def test_an_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UnknownSource, match="unknown source 'pagerduty'; known: azure_monitor, prometheus"):
        webhook_route("pagerduty", {})


def test_every_sender_posts_to_a_webhook_triage_serves() -> None:
    assert SENDERS == {
        "alertmanager": "prometheus",
        "azure-monitor": "azure-monitor",
        "grafana": "grafana",
        "cloudevents": "cloudevents",
    }
    assert set(SENDERS.values()) <= set(builtin_registry().routes())


def test_the_hmac_routes_are_the_keys_of_triages_setting() -> None:
    assert hmac_routes({HMAC_SECRETS_VARIABLE: '{"grafana": "a-long-random-shared-secret"}'}) == {"grafana"}
    assert hmac_routes({}) == set()
    assert hmac_routes({HMAC_SECRETS_VARIABLE: "not json"}) == set()
    assert hmac_routes({HMAC_SECRETS_VARIABLE: '["grafana"]'}) == set()
