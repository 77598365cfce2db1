"""The audit service's query API (docs/audit.md): an incident's records, the approvals history and
the newest records of one message type (scheduled-task reports).

Answers are cached for a moment: every open console tab polls, and each query scans the log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from warden_console.domain.approvals import FINAL_OUTCOMES, Outcome
from warden_console.ports import AuditUnavailable

CACHE_S = 1.0


@dataclass
class AuditQueryApi:
    base_url: str
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def _get(self, path: str) -> Any:
        hit = self._cache.get(path)
        if hit and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                http.get(self.base_url.rstrip("/") + path) as resp,
            ):
                if resp.status != 200:
                    raise AuditUnavailable(f"audit query API answered {resp.status} for {path}")
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AuditUnavailable(f"audit query API unreachable: {err}") from None
        self._cache[path] = (time.monotonic(), body)
        return body

    async def incident_records(self, incident_id: str) -> Sequence[dict[str, Any]]:
        body = await self._get(f"/v1/audit/incidents/{quote(incident_id, safe='')}/records")
        return list(body.get("records", []))

    async def records_of_type(self, message_type: str, limit: int) -> Sequence[dict[str, Any]]:
        body = await self._get(f"/v1/audit/records?type={quote(message_type, safe='')}&limit={limit}")
        return list(body.get("records", []))

    async def outcomes(self) -> Mapping[str, Outcome]:
        body = await self._get("/v1/audit/approvals")
        return {
            str(entry["approval_id"]): Outcome(
                str(entry["state"]),
                tuple(entry.get("approvers") or ()),
                tuple(entry.get("reasons") or ()),
                at=str(entry.get("decided_at") or ""),
                notes=tuple(str(d["reason"]) for d in entry.get("decisions") or () if d.get("reason")),
            )
            for entry in body.get("approvals", [])
            if entry.get("state") in FINAL_OUTCOMES
        }
