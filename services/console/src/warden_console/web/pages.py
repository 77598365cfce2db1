"""The console's pages: pending approvals, an incident with its approvals, decisions, history."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web
from warden_contracts.catalog import default_catalog
from warden_contracts.events import ApprovalDecision

from warden_console.desk import ApproverDesk, DecisionRefused
from warden_console.domain.approvals import ApprovalView
from warden_console.domain.incident_view import alert_payloads, header, metric_story, triggering_alerts
from warden_console.domain.plan_findings import forced_review, injection_warnings, recovery
from warden_console.domain.roles import Principal, Role
from warden_console.domain.timeline import approvals_so_far, incident_status, timeline
from warden_console.ports import AuditTrail, AuditUnavailable, Record
from warden_console.web.render import card_preview, page
from warden_console.web.sessions import principal

DESK_KEY: web.AppKey[ApproverDesk] = web.AppKey("desk", ApproverDesk)
AUDIT_KEY: web.AppKey[AuditTrail] = web.AppKey("audit", AuditTrail)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signed_in(request: web.Request, role: Role = Role.VIEWER) -> Principal:
    who = principal(request)
    if who is None:
        raise web.HTTPFound(f"/login?next={request.path_qs}" if request.method == "GET" else "/login")
    if who.role < role:
        raise web.HTTPForbidden(text=f"{who.name} is a {who.role.label}; this needs {role.label}")
    return who


def summary(view: ApprovalView, desk: ApproverDesk) -> dict[str, Any]:
    """What the live list needs: small, and free of tokens or anything secret."""
    now = desk.now()
    action = view.action
    return {
        "approval_id": view.approval_id,
        "incident_id": view.incident_id,
        "state": view.state(now),
        "seconds_left": view.seconds_left(now),
        "expires_at": view.expires_at.isoformat(),
        "kind": action.get("kind"),
        "target": action.get("target"),
        "environment": view.request.get("environment"),
        "tier": view.request.get("tier"),
        "summary": view.request.get("summary"),
        "approvals_required": view.approvals_required,
        "decided_by": list(view.outcome.by) if view.outcome else [],
        "url": f"/incidents/{view.incident_id}#approval-{view.approval_id}",
    }


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/approvals")


async def approvals_page(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    desk = request.app[DESK_KEY]
    pending = [summary(v, desk) for v in await desk.pending()]
    return page(request, "approvals.html", pending=pending)


async def approvals_api(request: web.Request) -> web.StreamResponse:
    if principal(request) is None:
        raise web.HTTPUnauthorized(text="sign in first")
    desk = request.app[DESK_KEY]
    return web.json_response({"pending": [summary(v, desk) for v in await desk.pending()]})


async def _records(request: web.Request, incident_id: str) -> tuple[list[Record], str]:
    try:
        return list(await request.app[AUDIT_KEY].incident_records(incident_id)), ""
    except AuditUnavailable as err:
        return [], f"The audit history is unavailable right now ({err}); decisions still work."


def _without_tokens(record: Record) -> Record:
    """Identity tokens are bearer credentials: audit links show that one was there, never the token."""
    envelope = dict(record.get("envelope") or {})
    data = dict(envelope.get("data") or {})
    if "identity_token" in data:
        data["identity_token"] = "[withheld]"
    return {**record, "envelope": {**envelope, "data": data}}


async def _alert_records(request: web.Request, alert_ids: Sequence[str]) -> list[Record]:
    """Alerts are audited under their own correlation id (`alert:<id>`), before any incident exists."""
    trail = request.app[AUDIT_KEY]
    try:
        found = await asyncio.gather(*(trail.incident_records(f"alert:{a}") for a in alert_ids))
    except AuditUnavailable:
        return []
    return [r for records in found for r in records]


async def incident_page(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    desk = request.app[DESK_KEY]
    incident_id = request.match_info["incident_id"]
    records, problem = await _records(request, incident_id)
    views = await desk.for_incident(incident_id)
    if not records and not views and not problem:
        raise web.HTTPNotFound(text=f"no incident {incident_id}")
    now = desk.now()
    so_far = approvals_so_far(records)
    head = header(records)
    alert_records = await _alert_records(request, head.alert_ids)
    alerts = alert_payloads(alert_records)
    approvals = [
        {
            **summary(v, desk),
            "so_far": so_far.get(v.approval_id, ()),
            "request": v.request,
            "card": card_preview(v.request.get("adaptive_card")),
            "pending": v.is_pending(now),
            "outcome": v.outcome,
            "confidence": v.action.get("confidence"),
            "metric": metric_story(default_catalog(), v.action, list(v.request.get("evidence") or ()), alerts, records),
        }
        for v in views
    ]
    return page(
        request,
        "incident.html",
        incident_id=incident_id,
        status=incident_status(records),
        head=head,
        alerts=triggering_alerts(alert_records),
        entries=timeline(records),
        approvals=approvals,
        injection=injection_warnings(records),
        forced=forced_review(records),
        recovery=recovery(records),
        message=request.query.get("message", ""),
        problem=problem,
    )


async def incident_api(request: web.Request) -> web.StreamResponse:
    if principal(request) is None:
        raise web.HTTPUnauthorized(text="sign in first")
    desk = request.app[DESK_KEY]
    incident_id = request.match_info["incident_id"]
    records, problem = await _records(request, incident_id)
    views = await desk.for_incident(incident_id)
    return web.json_response(
        {
            "status": incident_status(records) if not problem else "unknown",
            "approvals": [summary(v, desk) for v in views],
            "entries": [dataclasses.asdict(e) for e in timeline(records)],
        }
    )


async def decide(request: web.Request) -> web.StreamResponse:
    who = signed_in(request)
    form = await request.post()
    desk = request.app[DESK_KEY]
    approval_id = request.match_info["approval_id"]
    try:
        decision = ApprovalDecision(str(form.get("decision", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="decision must be approve or deny") from None
    view = await desk.approval(approval_id)
    if view is None:
        raise web.HTTPNotFound(text=f"no approval request {approval_id}")
    try:
        sent = await desk.decide(who, approval_id, decision, str(form.get("reason", "")).strip(), "console")
    except DecisionRefused as refused:
        return page(request, "refused.html", http_status=403, reason=str(refused), incident_id=view.incident_id)
    message = quote(f"{sent.decision.value} sent as {who.name}; policy verifies it")
    raise web.HTTPSeeOther(f"/incidents/{quote(view.incident_id)}?message={message}#approval-{quote(approval_id)}")


async def incident_audit(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    records, problem = await _records(request, request.match_info["incident_id"])
    if problem:
        raise web.HTTPServiceUnavailable(text=problem)
    return web.json_response({"records": [_without_tokens(r) for r in records]})


async def history_page(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    desk = request.app[DESK_KEY]
    now = desk.now()
    rows = [summary(v, desk) | {"outcome": v.outcome} for v in await desk.approvals(500) if not v.is_pending(now)]
    return page(request, "history.html", rows=rows)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", home),
        web.get("/approvals", approvals_page),
        web.get("/api/approvals", approvals_api),
        web.get("/incidents/{incident_id}", incident_page),
        web.get("/incidents/{incident_id}/audit.json", incident_audit),
        web.get("/api/incidents/{incident_id}", incident_api),
        web.post("/approvals/{approval_id}/decision", decide),
        web.get("/history", history_page),
    ]
