"""The estate listing a scheduled task sweeps: `GET /v1/services` of the sandbox (read-only)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from warden_planner.domain.observer import ObserverError

MAX_BODY_BYTES = 4 * 1024 * 1024


class SandboxEstate:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._url = base_url.rstrip("/") + "/v1/services"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def list_services(self) -> list[dict[str, Any]]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"Accept": "application/json"})
        try:
            async with self._session.get(self._url, allow_redirects=False) as resp:
                raw = await resp.content.read(MAX_BODY_BYTES + 1)
                if resp.status != 200:
                    raise ObserverError(f"GET /v1/services answered HTTP {resp.status}")
        except TimeoutError:
            raise ObserverError(f"GET /v1/services timed out after {self._timeout.total}s") from None
        except aiohttp.ClientError as err:
            raise ObserverError(f"GET /v1/services failed: {err}") from None
        if len(raw) > MAX_BODY_BYTES:
            raise ObserverError("GET /v1/services answered more than 4 MiB")
        try:
            body = json.loads(raw)
        except ValueError:
            raise ObserverError("GET /v1/services answered something that is not JSON") from None
        services = body.get("services") if isinstance(body, dict) else None
        if not isinstance(services, list) or not all(isinstance(s, dict) for s in services):
            raise ObserverError("GET /v1/services answered no list of services")
        return services
