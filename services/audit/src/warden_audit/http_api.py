"""The audit query API (read-only, bound to 127.0.0.1 by the runtime): docs/audit.md has examples.

Each query scans the local log in a worker thread; the log is append-only, so a scan never sees a
half-written record (torn tails are skipped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from warden_audit.adapters.sqlite_vault import SqliteVault
from warden_audit.domain.personal import resolve
from warden_audit.domain.recorder import Recorder
from warden_audit.history import Window, action_history, approval_history
from warden_audit.proofs import NotProvable, bundle_for
from warden_audit.query import records_for, records_of_type
from warden_audit.reader import read_records
from warden_audit.segments import AuditLogCorrupt
from warden_audit.verify import load_checkpoints


def _window(request: web.Request) -> Window:
    def moment(name: str) -> datetime | None:
        raw = request.query.get(name)
        if not raw:
            return None
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise web.HTTPBadRequest(text=f"{name} must be an ISO 8601 time, got {raw!r}") from None
        if parsed.tzinfo is None:
            raise web.HTTPBadRequest(text=f"{name} needs a time zone (e.g. Z)")
        return parsed

    return Window(request.query.get("incident"), request.query.get("approver"), moment("since"), moment("until"))


MAX_LIMIT = 1000


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def query_routes(recorder: Recorder, audit_dir: Path, vault: SqliteVault) -> list[web.RouteDef]:
    async def in_thread(fn: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(fn)
        except AuditLogCorrupt as err:
            raise web.HTTPInternalServerError(text=f"audit log damaged: {err}; run `warden audit verify`") from None

    async def head(_: web.Request) -> web.Response:
        seq, digest = recorder.head
        cp = recorder.last_checkpoint
        return web.json_response({"seq": seq, "hash": digest, "checkpoint": cp.to_json() if cp else None})

    async def approvals(request: web.Request) -> web.Response:
        window = _window(request)
        found = await in_thread(lambda: approval_history(read_records(audit_dir), window))
        return web.json_response({"approvals": found})

    async def actions(request: web.Request) -> web.Response:
        window = _window(request)
        found = await in_thread(lambda: action_history(read_records(audit_dir), window))
        return web.json_response({"actions": found})

    async def incident_records(request: web.Request) -> web.Response:
        incident = request.match_info["incident"]
        found = await in_thread(lambda: [resolve(r, vault) for r in records_for(audit_dir, incident)])
        return web.json_response({"incident": incident, "records": found})

    async def records_by_type(request: web.Request) -> web.Response:
        message_type = request.query.get("type", "")
        if not message_type:
            raise web.HTTPBadRequest(text="type is required, e.g. type=sre.task.reported.v1")
        window, limit = _window(request), _limit(request)
        found = await in_thread(
            lambda: [resolve(r, vault) for r in records_of_type(audit_dir, message_type, window, limit)]
        )
        return web.json_response({"type": message_type, "records": found})

    async def incident_bundle(request: web.Request) -> web.Response:
        incident = request.match_info["incident"]
        await recorder.checkpoint()  # so the newest records are provable right now
        try:
            bundle = await in_thread(lambda: bundle_for(audit_dir, records_for(audit_dir, incident), title=incident))
        except NotProvable as err:
            raise web.HTTPNotFound(text=str(err)) from None
        return web.json_response(bundle)

    async def checkpoints(_: web.Request) -> web.Response:
        found = await in_thread(lambda: [cp.to_json() for cp in load_checkpoints(audit_dir)])
        return web.json_response({"checkpoints": found})

    return [
        web.get("/v1/audit/head", head),
        web.get("/v1/audit/approvals", approvals),
        web.get("/v1/audit/actions", actions),
        web.get("/v1/audit/incidents/{incident}/records", incident_records),
        web.get("/v1/audit/records", records_by_type),
        web.get("/v1/audit/incidents/{incident}/bundle", incident_bundle),
        web.get("/v1/audit/checkpoints", checkpoints),
    ]
