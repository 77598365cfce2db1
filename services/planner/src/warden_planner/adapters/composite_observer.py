"""One Observer from several backends: metrics from one (Prometheus, say), the rest from another."""

from __future__ import annotations

from typing import Any, Protocol

from warden_planner.domain.observer import ObserverTools


class MetricsSource(Protocol):
    async def get_service(self, name: str) -> dict[str, Any]: ...


class CompositeObserver:
    """`get_service` merges the base view with the metrics source (metrics win); the rest is the base's."""

    def __init__(self, base: ObserverTools, metrics: MetricsSource) -> None:
        self._base = base
        self._metrics = metrics

    async def get_service(self, name: str) -> dict[str, Any]:
        view = await self._base.get_service(name)
        return {**view, **(await self._metrics.get_service(name))}

    async def get_deployments(self, name: str) -> list[dict[str, Any]]:
        return await self._base.get_deployments(name)

    async def get_logs(self, name: str, limit: int) -> list[str]:
        return await self._base.get_logs(name, limit)

    async def get_dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        return await self._base.get_dependencies(name)

    async def get_owner(self, name: str) -> dict[str, Any]:
        return await self._base.get_owner(name)
