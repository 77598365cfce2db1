"""The incident list: every incident with its state, recovered ones and injection warnings marked."""

from __future__ import annotations

import asyncio

from aiohttp import web

from warden_console.domain.incident_list import TYPES, incident_rows
from warden_console.ports import AuditUnavailable
from warden_console.web.pages import AUDIT_KEY, signed_in
from warden_console.web.render import page

# Records per message type read for the list; older incidents stay in the audit log and `warden incidents`.
PER_TYPE = 2000


async def incidents_page(request: web.Request) -> web.StreamResponse:
    signed_in(request)  # any role: the list is read-only
    trail = request.app[AUDIT_KEY]
    problem = ""
    try:
        found = await asyncio.gather(*(trail.records_of_type(t, PER_TYPE) for t in TYPES))
        rows = incident_rows(r for records in found for r in records)
    except AuditUnavailable as err:
        rows, problem = [], f"The audit history is unavailable right now ({err})."
    return page(request, "incidents.html", rows=rows, problem=problem)


def routes() -> list[web.RouteDef]:
    return [web.get("/incidents", incidents_page)]
