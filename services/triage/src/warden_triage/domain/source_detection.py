"""Which webhook a payload file belongs to, for `warden ingest` (the webhooks themselves never guess)."""

from __future__ import annotations

from typing import Any

# `--source` names -> webhook routes (`POST /webhooks/<route>`).
ROUTES = {
    "azure_monitor": "azure-monitor",
    "prometheus": "prometheus",
    "grafana": "grafana",
    "cloudevents": "cloudevents",
    "normalised": "alerts",
}
# The products an operator points at a webhook, by the name `warden connect` gives them, and the
# route each one posts to.
SENDERS = {
    "alertmanager": ROUTES["prometheus"],
    "azure-monitor": ROUTES["azure_monitor"],
    "grafana": ROUTES["grafana"],
    "cloudevents": ROUTES["cloudevents"],
}


def guess_source(body: Any) -> str:
    """The `--source` name a JSON document most likely is; "normalised" when nothing else fits."""
    if not isinstance(body, dict):
        return "normalised"
    if body.get("schemaId") == "azureMonitorCommonAlertSchema":
        return "azure_monitor"
    if "specversion" in body:
        return "cloudevents"
    if isinstance(body.get("alerts"), list):
        return "grafana" if body.get("version") == "1" or "orgId" in body else "prometheus"
    return "normalised"
