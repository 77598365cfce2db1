"""The Observer over the sandbox's open read API (GET only; this client never sends a write)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp
from warden_bus import traced

from warden_planner.domain.observer import ObserverError

MAX_BODY_BYTES = 1024 * 1024


class SandboxObserver:
    """`ObserverTools` over `GET /v1/services/{name}[/deployments|/logs]` of the sandbox."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"Accept": "application/json"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @traced.tool_call("get_service")
    async def get_service(self, name: str) -> dict[str, Any]:
        return await self._get(name, "")

    @traced.tool_call("get_deployments")
    async def get_deployments(self, name: str) -> list[dict[str, Any]]:
        body = await self._get(name, "/deployments")
        found = body.get("deployments")
        if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
            raise ObserverError(f"deployments of {name!r}: answer has no list of deployments")
        return found

    @traced.tool_call("get_logs")
    async def get_logs(self, name: str, limit: int) -> list[str]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ObserverError(f"logs of {name!r}: limit must be a positive integer, got {limit!r}")
        body = await self._get(name, "/logs", {"limit": str(limit)})
        lines = body.get("lines")
        if not isinstance(lines, list):
            raise ObserverError(f"logs of {name!r}: answer has no list of lines")
        return [line if isinstance(line, str) else str(line) for line in lines]

    @traced.tool_call("get_dependencies")
    async def get_dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        body = await self._get(name, "/dependencies")
        out: dict[str, list[dict[str, Any]]] = {}
        for key in ("dependencies", "dependents"):
            found = body.get(key)
            if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
                raise ObserverError(f"dependencies of {name!r}: answer has no list of {key}")
            out[key] = found
        return out

    @traced.tool_call("get_owner")
    async def get_owner(self, name: str) -> dict[str, Any]:
        view = await self._get(name, "")
        owner = view.get("owner")
        return {"service": name, "owner": owner if isinstance(owner, str) and owner else "unknown"}

    async def _get(self, name: str, suffix: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise ObserverError("a service name is required")
        # Names may contain "/": quote everything so a name can never change the path it reads.
        path = f"/v1/services/{quote(name, safe='')}{suffix}"
        await self.start()
        assert self._session is not None
        try:
            async with self._session.get(self._base + path, params=query, allow_redirects=False) as resp:
                raw = await resp.content.read(MAX_BODY_BYTES + 1)
                if resp.status == 404:
                    raise ObserverError(f"service {name!r} is unknown to the sandbox (404 on GET {path})")
                if resp.status != 200:
                    snippet = raw[:200].decode("utf-8", errors="replace")
                    raise ObserverError(f"GET {path} answered HTTP {resp.status}: {snippet}")
        except TimeoutError:
            raise ObserverError(f"GET {path} timed out after {self._timeout.total}s") from None
        except aiohttp.ClientError as err:
            raise ObserverError(f"GET {path} failed: {err.__class__.__name__}: {err}") from None
        if len(raw) > MAX_BODY_BYTES:
            raise ObserverError(f"GET {path} answered more than {MAX_BODY_BYTES} bytes")
        return _json_object(raw, path)


def _json_object(raw: bytes, path: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ObserverError(f"GET {path} did not answer JSON") from None
    if not isinstance(body, dict):
        raise ObserverError(f"GET {path} answered {type(body).__name__}, expected an object")
    return body
