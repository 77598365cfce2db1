"""The stack's public surfaces the harness drives: sandbox admin API, alert webhook, CLI operations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from warden_cli.layout import Layout
from warden_cli.operations import OperationError

from warden_eval.scenario import AlertStep

# Scenario `source` -> the triage webhook route that accepts it.
RAW_ROUTES = {
    "alertmanager": "prometheus",
    "azure-monitor": "azure-monitor",
    "grafana": "grafana",
    "cloudevents": "cloudevents",
}


class Surfaces:
    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._http: aiohttp.ClientSession | None = None
        self._fired: list[tuple[AlertStep, str, dict[str, Any], datetime]] = []

    async def __aenter__(self) -> Surfaces:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "use Surfaces as an async context manager"
        return self._http

    def _admin(self) -> dict[str, str]:
        return {"X-Sandbox-Admin": self._layout.secrets()["sandbox_admin_secret"]}

    def _sandbox(self, path: str) -> str:
        return f"{self._layout.read_stack()['sandbox_url']}{path}"

    async def reset(self, estate: dict[str, Any] | None) -> dict[str, Any]:
        body = {"estate": estate} if estate is not None else {}
        async with self.http.post(self._sandbox("/v1/admin/reset"), json=body, headers=self._admin()) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            if resp.status != 200:
                raise OperationError(f"sandbox reset refused ({resp.status}): {answer}")
            return answer

    async def inject(self, service: str, kind: str, params: dict[str, Any], log_text: str | None) -> None:
        body = {"service": service, "kind": kind, **params, **({"log_text": log_text} if log_text else {})}
        async with self.http.post(self._sandbox("/v1/admin/faults"), json=body, headers=self._admin()) as resp:
            if resp.status >= 400:
                raise OperationError(f"sandbox refused fault {kind} on {service} ({resp.status}): {await resp.text()}")

    async def view(self, service: str) -> dict[str, Any]:
        async with self.http.get(self._sandbox(f"/v1/services/{service}")) as resp:
            if resp.status != 200:
                raise OperationError(f"sandbox has no service {service!r} ({resp.status})")
            found: dict[str, Any] = await resp.json()
            return found

    async def fire_raw(self, step: AlertStep) -> None:
        """A raw source body, posted to that source's route as the source itself would."""
        assert step.body is not None and step.source is not None
        route = RAW_ROUTES[step.source]
        await self._post(step.body, route)

    async def fire(self, step: AlertStep) -> None:
        if step.body is not None:
            await self.fire_raw(step)
            return
        view = await self.view(step.service)
        alert_id, fired_at = str(uuid.uuid4()), datetime.now(UTC)
        self._fired.append((step, alert_id, view, fired_at))
        await self._post(common_schema(step, view, alert_id, "Fired", fired_at))

    async def resolve_fired(self) -> None:
        """Scenario end: every alert the harness fired is resolved, so its incident closes."""
        fired, self._fired = self._fired, []
        for step, alert_id, view, fired_at in fired:
            await self._post(common_schema(step, view, alert_id, "Resolved", fired_at, datetime.now(UTC)))

    async def _post(self, payload: dict[str, Any], route: str = "azure-monitor") -> None:
        url, token = self._layout.read_stack()["webhook_url"], self._layout.secrets()["webhook_token"]
        url = f"{url.rsplit('/', 1)[0]}/{route}"
        async with self.http.post(url, json=payload, headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status >= 400:
                raise OperationError(f"webhook refused the alert ({resp.status}): {await resp.text()}")


def common_schema(
    step: AlertStep,
    view: dict[str, Any],
    alert_uuid: str,
    condition: str,
    fired_at: datetime,
    resolved_at: datetime | None = None,
) -> dict[str, Any]:
    """The Azure Monitor common alert schema, as Azure posts it for a single-resource alert."""
    resource_id = str(view["resource_id"])
    sub = resource_id.strip("/").split("/")[1] if resource_id.startswith("/subscriptions/") else "unknown"
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{alert_uuid}",
        "alertRule": step.rule,
        "severity": step.severity,
        "signalType": step.signal,
        "monitorCondition": condition,
        "monitoringService": "Platform" if step.signal == "Metric" else "Log Analytics",
        "alertTargetIDs": [resource_id],
        "configurationItems": [view["name"]],
        "originAlertId": f"eval_{alert_uuid}",
        "firedDateTime": fired_at.isoformat(),
        "description": step.description,
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if resolved_at is not None:
        essentials["resolvedDateTime"] = resolved_at.isoformat()
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {"properties": None, "conditionType": "SingleResourceMultipleMetricCriteria"},
            "customProperties": {"service": view["name"], "environment": view["environment"]},
        },
    }
