"""Administrators' page: the kill switch and the mode switches, published as `sre.control.changed.v1`."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from warden_contracts.events import ControlKind

from warden_console.desk import DecisionRefused
from warden_console.domain.roles import Role
from warden_console.web.pages import DESK_KEY, signed_in
from warden_console.web.render import page

# The switches offered here and the values each accepts (policy validates them again).
SWITCHES: dict[ControlKind, tuple[str, ...]] = {
    ControlKind.KILL_SWITCH: ("on", "off"),
    ControlKind.MODE: ("review", "autonomous"),
    ControlKind.ACCESS_LEVEL: ("reader", "privileged"),
    ControlKind.ADVISORY: ("on", "off"),
    ControlKind.FREEZE: ("on", "off"),
    ControlKind.SHADOW: ("on", "off"),
}


async def admin_page(request: web.Request) -> web.StreamResponse:
    signed_in(request, Role.ADMINISTRATOR)
    desk = request.app[DESK_KEY]
    return page(
        request,
        "admin.html",
        switches=[(k.value, values) for k, values in SWITCHES.items()],
        enabled=desk.controls_enabled,
        message=request.query.get("message", ""),
    )


async def change_control(request: web.Request) -> web.StreamResponse:
    who = signed_in(request, Role.ADMINISTRATOR)
    form = await request.post()
    try:
        kind = ControlKind(str(form.get("kind", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="unknown control") from None
    value = str(form.get("value", ""))
    if kind not in SWITCHES or value not in SWITCHES[kind]:
        raise web.HTTPBadRequest(text=f"{kind.value} takes one of {', '.join(SWITCHES.get(kind, ()))}")
    scope = str(form.get("scope", "global")).strip() or "global"
    try:
        await request.app[DESK_KEY].set_control(who, kind, value, scope, str(form.get("reason", "")).strip())
    except DecisionRefused as refused:
        return page(request, "refused.html", http_status=403, reason=str(refused), incident_id="")
    raise web.HTTPSeeOther("/admin?message=" + quote(f"{kind.value} {value} ({scope}) sent"))


def routes() -> list[web.RouteDef]:
    return [web.get("/admin", admin_page), web.post("/admin/controls", change_control)]
