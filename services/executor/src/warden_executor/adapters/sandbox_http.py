"""TargetProvider over the sandbox HTTP API (docs/architecture.md): open reads, token-gated writes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp
from warden_bus import traced

from warden_executor.domain.model import (
    ActResult,
    Grant,
    TargetActionFailed,
    TargetNotFound,
    TargetUnavailable,
)

SANDBOX_TOKEN = "sandbox_token"
_ERROR_TEXT_LIMIT = 500


def _service_path(name: str) -> str:
    return f"/v1/services/{quote(name, safe='')}"


class SandboxTargetProvider:
    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _url(self, path: str) -> str:
        return self._base + path

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @traced.action_call("observe")
    async def observe(self, target: str) -> dict[str, Any]:
        try:
            async with self._http().get(self._url(_service_path(target))) as resp:
                if resp.status == 404:
                    raise TargetNotFound(f"{target}: {await _error_text(resp)}")
                if resp.status != 200:
                    raise TargetUnavailable(f"GET {target}: HTTP {resp.status}: {await _error_text(resp)}")
                view = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TargetUnavailable(f"GET {target}: {err!r}") from err
        if not isinstance(view, dict):
            raise TargetUnavailable(f"GET {target}: expected an object, got {type(view).__name__}")
        return view

    @traced.action_call("act")
    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        token = grant.material.get(SANDBOX_TOKEN)
        if not token:
            raise TargetActionFailed(f"grant {grant.grant_id} carries no sandbox write token")
        path = f"{_service_path(target)}/actions/{quote(kind, safe='')}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._http().post(self._url(path), json={"params": params}, headers=headers) as resp:
                if resp.status // 100 != 2:
                    raise TargetActionFailed(f"{kind} on {target}: HTTP {resp.status}: {await _error_text(resp)}")
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TargetActionFailed(f"{kind} on {target}: {err!r}") from err
        if not isinstance(body, dict) or not isinstance(body.get("before"), dict):
            raise TargetActionFailed(f"{kind} on {target}: answer has no before-state")
        after = body.get("after")
        return ActResult(before=body["before"], after=after if isinstance(after, dict) else {})


async def _error_text(resp: aiohttp.ClientResponse) -> str:
    """The server's reason: the `error` field of a JSON error body, else the body text."""
    text = (await resp.text()).strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    return text[:_ERROR_TEXT_LIMIT] or resp.reason or "no detail"
