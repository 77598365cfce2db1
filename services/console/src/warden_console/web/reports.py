"""The scheduled-reports page: the latest scheduled-task reports, read from the audit history."""

from __future__ import annotations

from aiohttp import web

from warden_console.domain.task_reports import REPORTED_TYPE, ReportList, task_reports
from warden_console.ports import AuditUnavailable
from warden_console.web.pages import AUDIT_KEY, signed_in
from warden_console.web.render import page

# Enough for a week of hourly checks plus the daily and weekly tasks; older runs stay in the audit log.
SHOWN = 200


async def reports_page(request: web.Request) -> web.StreamResponse:
    signed_in(request)  # any role: reports are read-only
    problem = ""
    try:
        reports = task_reports(await request.app[AUDIT_KEY].records_of_type(REPORTED_TYPE, SHOWN))
    except AuditUnavailable as err:
        reports, problem = ReportList((), 0), f"The audit history is unavailable right now ({err})."
    return page(request, "reports.html", reports=reports, problem=problem)


def routes() -> list[web.RouteDef]:
    return [web.get("/reports", reports_page)]
