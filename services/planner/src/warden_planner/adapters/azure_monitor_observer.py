"""The Observer over Azure Monitor Logs: KQL templates run with `azure-monitor-query` (read-only).

Authentication is the service's managed identity (Log Analytics Reader on the workspace). Only the
bundled (or configured) templates are ever sent; callers supply the service name and a limit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from azure.monitor.query import LogsQueryStatus
from azure.monitor.query.aio import LogsQueryClient
from warden_bus import traced

from warden_planner.adapters.query_templates import bundled_templates, render
from warden_planner.domain.observer import ObserverError

MAX_ROWS = 500


class AzureMonitorObserver:
    def __init__(
        self,
        credential: AsyncTokenCredential,
        workspace_id: str,
        *,
        endpoint: str | None = None,
        templates: dict[str, str] | None = None,
        timespan: timedelta = timedelta(days=14),
        request_options: dict[str, Any] | None = None,
    ) -> None:
        kwargs = {"endpoint": endpoint} if endpoint else {}
        self._client = LogsQueryClient(credential, **kwargs)
        self._workspace = workspace_id
        self._templates = templates or bundled_templates()["azure_monitor"]
        self._timespan = timespan
        self._options = request_options or {}

    async def close(self) -> None:
        await self._client.close()

    @traced.tool_call("get_service")
    async def get_service(self, name: str) -> dict[str, Any]:
        rows = await self._rows("service", name)
        if not rows:
            raise ObserverError(f"no telemetry for {name!r} in the workspace")
        return {**rows[0], "name": name, "source": "azure_monitor"}

    @traced.tool_call("get_deployments")
    async def get_deployments(self, name: str) -> list[dict[str, Any]]:
        return [
            {"version": r.get("version"), "at": r.get("at"), "by": r.get("by")}
            for r in await self._rows("deployments", name)
        ]

    @traced.tool_call("get_logs")
    async def get_logs(self, name: str, limit: int) -> list[str]:
        rows = await self._rows("logs", name, limit)
        return [str(r.get("line", "")) for r in reversed(rows)]  # newest last, like every Observer

    @traced.tool_call("get_dependencies")
    async def get_dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {"dependencies": [], "dependents": []}
        for row in await self._rows("dependencies", name):
            direction = row.pop("direction", None)
            if direction in out:
                out[direction].append(row)
        return out

    @traced.tool_call("get_owner")
    async def get_owner(self, name: str) -> dict[str, Any]:
        rows = await self._rows("owner", name)
        return {"service": name, "owner": str(rows[0].get("owner") or "unknown") if rows else "unknown"}

    async def _rows(self, template: str, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        query = render(self._templates[template], name, limit)
        try:
            result = await self._client.query_workspace(
                self._workspace, query, timespan=self._timespan, **self._options
            )
        except AzureError as err:
            raise ObserverError(
                f"log analytics {template} query failed: {type(err).__name__}: {str(err)[:200]}"
            ) from None
        if result.status != LogsQueryStatus.SUCCESS or not result.tables:
            raise ObserverError(f"log analytics {template} query returned partial or no results")
        table = result.tables[0]
        columns = list(table.columns)
        return [_plain(dict(zip(columns, row, strict=False))) for row in list(table.rows)[:MAX_ROWS]]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
