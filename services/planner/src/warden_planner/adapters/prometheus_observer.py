"""Service metrics from Prometheus: PromQL templates over the HTTP API (`GET /api/v1/query`).

Prometheus holds metrics only; deployments, logs, dependencies and owners come from another
Observer (see CompositeObserver).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from warden_planner.adapters.query_templates import bundled_templates, render
from warden_planner.domain.observer import ObserverError

MAX_BODY_BYTES = 1024 * 1024


class PrometheusMetrics:
    def __init__(
        self,
        base_url: str,
        *,
        templates: dict[str, str] | None = None,
        timeout_s: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._templates = templates or bundled_templates()["prometheus"]
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()

    async def get_service(self, name: str) -> dict[str, Any]:
        """Every templated metric for the service; a metric with no sample is left out, not guessed."""
        names = list(self._templates)
        values = await asyncio.gather(*(self._scalar(render(self._templates[m], name)) for m in names))
        view: dict[str, Any] = {"name": name, "source": "prometheus"}
        view |= {metric: value for metric, value in zip(names, values, strict=True) if value is not None}
        return view

    async def _scalar(self, promql: str) -> float | None:
        try:
            resp = await self._client.get("/api/v1/query", params={"query": promql})
        except httpx.HTTPError as err:
            raise ObserverError(f"prometheus query failed: {type(err).__name__}: {err}") from None
        if len(resp.content) > MAX_BODY_BYTES:
            raise ObserverError("prometheus answered more than 1 MiB")
        try:
            body = resp.json()
        except ValueError:
            raise ObserverError(f"prometheus answered HTTP {resp.status_code} without JSON") from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise ObserverError(f"prometheus refused the query ({resp.status_code}): {str(body.get('error'))[:200]}")
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise ObserverError(f"prometheus answered {data.get('resultType')!r}, expected an instant vector")
        result = data.get("result") or []
        if not result:
            return None
        try:
            value = float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ObserverError("prometheus sample is malformed") from None
        return value if value == value else None  # NaN (0/0 rate) means no signal
