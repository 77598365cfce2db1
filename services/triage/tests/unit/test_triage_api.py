"""`warden_triage.api.webhook_route`: which webhook `warden ingest FILE` posts to."""

from __future__ import annotations

import pytest
from warden_triage.api import UnknownSource, webhook_route


def test_a_named_source_or_a_guess_picks_the_route() -> None:
    assert webhook_route("prometheus", {}) == ("prometheus", "prometheus")
    assert webhook_route(None, {"schemaId": "azureMonitorCommonAlertSchema"}) == ("azure_monitor", "azure-monitor")
    assert webhook_route(None, {"title": "x"}) == ("normalised", "alerts")


def test_an_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UnknownSource, match="unknown source 'pagerduty'; known: azure_monitor, prometheus"):
        webhook_route("pagerduty", {})
