"""The sandbox's public surface for tools outside it (the `warden` CLI): the fault kinds it
simulates, and a client of its admin API (inject and clear faults) given its URL and the admin
secret. No other module of the sandbox is imported from outside it (import contract "The CLI
imports a service only through its api module", docs/adr/0009).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from warden_sandbox.domain.world import FAULT_KINDS

__all__ = ["FAULT_KINDS", "SandboxRefused", "clear_faults", "inject_fault"]

ADMIN_HEADER = "X-Sandbox-Admin"


class SandboxRefused(RuntimeError):
    """The admin API answered with an error; the message carries its status and reason."""


async def _admin(base_url: str, admin_secret: str, method: str, path: str, **request: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{base_url}{path}", headers={ADMIN_HEADER: admin_secret}, **request) as resp,
    ):
        text = await resp.text()
        if resp.status >= 400:
            raise SandboxRefused(f"sandbox refused ({resp.status}): {_reason(text)}")
        answer: dict[str, Any] = json.loads(text) if text else {}
        return answer


def _reason(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()
    if not isinstance(body, dict):
        return text.strip()
    details = body.get("details")
    return str(body.get("error", text.strip())) + (f": {'; '.join(map(str, details))}" if details else "")


async def inject_fault(base_url: str, admin_secret: str, service: str, kind: str, **params: Any) -> dict[str, Any]:
    """The sandbox's answer: service, kind, the fault's params (defaults filled in) and the service's view."""
    body = {"service": service, "kind": kind, **params}
    return await _admin(base_url, admin_secret, "POST", "/v1/admin/faults", json=body)


async def clear_faults(base_url: str, admin_secret: str, service: str) -> dict[str, Any]:
    """The sandbox's answer: the service and the kinds of fault it cleared."""
    return await _admin(base_url, admin_secret, "DELETE", "/v1/admin/faults", params={"service": service})
