"""The Observer: read-only, parameterised tools, and the evidence trail every call leaves.

Callers supply parameters, never query text. Whatever a tool returns is untrusted data (log lines
may contain anything, including text that looks like instructions); it is recorded as evidence and
only ever read field by field, never interpreted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from warden_contracts.events import Evidence

Clock = Callable[[], datetime]
T = TypeVar("T")

GET_SERVICE = "get_service"
GET_DEPLOYMENTS = "get_deployments"
GET_LOGS = "get_logs"
GET_DEPENDENCIES = "get_dependencies"
GET_OWNER = "get_owner"
ALL_TOOLS = (GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_DEPENDENCIES, GET_OWNER)
MAX_LOG_LINES = 200
MAX_LOG_LINE_CHARS = 1000


class ObserverTools(Protocol):
    """The read-only tools a planner may call (sandbox HTTP today, Azure Monitor later)."""

    async def get_service(self, name: str) -> dict[str, Any]: ...

    async def get_deployments(self, name: str) -> list[dict[str, Any]]:
        """Newest last."""
        ...

    async def get_logs(self, name: str, limit: int) -> list[str]: ...

    async def get_dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Health of what the service calls ("dependencies") and of what calls it ("dependents")."""
        ...

    async def get_owner(self, name: str) -> dict[str, Any]:
        """Who is paged for the service: {"service", "owner"}."""
        ...


class ObserverError(Exception):
    """A tool could not answer (unreachable, timed out, unknown service, malformed answer)."""


class ToolNotDeclared(Exception):
    """A runbook called a tool it did not declare."""


class EvidenceLog:
    """Calls the tools a runbook declared and wraps every answer (or failure) as `Evidence`."""

    def __init__(self, tools: ObserverTools, clock: Clock, allowed: Iterable[str]) -> None:
        self._tools = tools
        self._clock = clock
        self._allowed = frozenset(allowed)
        self.items: list[Evidence] = []

    async def service(self, name: str) -> dict[str, Any]:
        view = await self._call(GET_SERVICE, {"name": name}, lambda: self._tools.get_service(name))
        self._record(GET_SERVICE, {"name": name}, view)
        return view

    async def deployments(self, name: str) -> list[dict[str, Any]]:
        found = await self._call(GET_DEPLOYMENTS, {"name": name}, lambda: self._tools.get_deployments(name))
        self._record(GET_DEPLOYMENTS, {"name": name}, {"deployments": found})
        return found

    async def logs(self, name: str, limit: int) -> list[str]:
        limit = max(1, min(limit, MAX_LOG_LINES))
        params = {"name": name, "limit": limit}
        lines = await self._call(GET_LOGS, params, lambda: self._tools.get_logs(name, limit))
        lines = [line[:MAX_LOG_LINE_CHARS] for line in lines[-limit:]]
        self._record(GET_LOGS, params, {"lines": lines})
        return lines

    async def dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        found = await self._call(GET_DEPENDENCIES, {"name": name}, lambda: self._tools.get_dependencies(name))
        self._record(GET_DEPENDENCIES, {"name": name}, dict(found))
        return found

    async def owner(self, name: str) -> str:
        found = await self._call(GET_OWNER, {"name": name}, lambda: self._tools.get_owner(name))
        self._record(GET_OWNER, {"name": name}, dict(found))
        owner = found.get("owner")
        return owner if isinstance(owner, str) and owner else "unknown"

    async def _call(self, tool: str, params: dict[str, Any], call: Callable[[], Awaitable[T]]) -> T:
        if tool not in self._allowed:
            raise ToolNotDeclared(f"{tool} is not declared by this runbook")
        try:
            return await call()
        except ObserverError as err:
            self._record(tool, params, {"error": str(err)})
            raise ObserverError(f"{tool}({_describe(params)}): {err}") from err

    def _record(self, tool: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        at = self._clock()
        self.items.append(
            Evidence(
                tool=tool,
                params=dict(params),
                result=result,
                untrusted=True,
                observed_at=at,
                ref=evidence_ref(tool, params, at, len(self.items)),
            )
        )


def evidence_ref(tool: str, params: dict[str, Any], at: datetime, index: int) -> str:
    """Stable within an incident: the same call at the same moment gets the same handle."""
    seed = json.dumps([tool, params, at.isoformat(), index], sort_keys=True, default=str)
    return "ev-" + hashlib.sha256(seed.encode()).hexdigest()[:10]


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
