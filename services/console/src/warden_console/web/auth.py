"""Sign-in and sign-out: local users (argon2) in the embedded mode, OpenID Connect when configured."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web

from warden_console.adapters.oidc import OidcClient, OidcError, PendingSignIn
from warden_console.ports import Directory
from warden_console.web.render import page
from warden_console.web.sessions import current, end_session, open_session, set_cookie, start_session

log = logging.getLogger("warden.console.auth")

DIRECTORY_KEY: web.AppKey[Directory | None] = web.AppKey("directory", object)
OIDC_KEY: web.AppKey[OidcClient | None] = web.AppKey("oidc", object)
_OIDC_PENDING = "oidc_pending"


def _local_path(target: str) -> str:
    """Only same-site paths: `next` must never redirect a signed-in person elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/approvals"
    return target


async def login_form(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    # An anonymous session carries the CSRF token the sign-in form needs.
    fresh = open_session(request, None) if current(request) is None else None
    response = page(
        request,
        "login.html",
        http_status=status,
        error=error,
        next=_local_path(request.query.get("next", "/approvals")),
        local=request.app[DIRECTORY_KEY] is not None,
        oidc=request.app[OIDC_KEY] is not None,
    )
    if fresh:
        set_cookie(request, response, fresh)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    return await login_form(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    directory = request.app[DIRECTORY_KEY]
    if directory is None:
        raise web.HTTPNotFound(text="local sign-in is disabled")
    form = await request.post()
    name, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    who = directory.authenticate(name, password) if name and password else None
    if who is None:
        log.warning("failed local sign-in for %r from %s", name[:64], request.remote)
        return await login_form(request, "Unknown user or wrong password.", status=401)
    response = web.HTTPSeeOther(_local_path(str(form.get("next", "/approvals"))))
    start_session(request, response, who)
    log.info("%s signed in (%s)", who.name, who.role.label)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/login")
    end_session(request, response)
    raise response


async def oidc_begin(request: web.Request) -> web.StreamResponse:
    client = request.app[OIDC_KEY]
    if client is None:
        raise web.HTTPNotFound(text="OIDC sign-in is not configured")
    try:
        url, pending = await client.begin()
    except OidcError as err:
        raise web.HTTPBadGateway(text=f"identity provider unavailable: {err}") from None
    response = web.HTTPFound(url)
    session = current(request) or start_session(request, response, None)
    session.data[_OIDC_PENDING] = pending
    raise response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    client, session = request.app[OIDC_KEY], current(request)
    pending = session.data.pop(_OIDC_PENDING, None) if session else None
    if client is None or not isinstance(pending, PendingSignIn):
        return await login_form(request, "Sign-in expired; start again.", status=400)
    if "error" in request.query:
        return await login_form(request, f"Identity provider: {request.query.get('error')}", status=401)
    try:
        who = await client.complete(pending, state=request.query.get("state", ""), code=request.query.get("code", ""))
    except OidcError as err:
        log.warning("OIDC sign-in refused: %s", err)
        return await login_form(request, f"Sign-in refused: {err}", status=401)
    response = web.HTTPSeeOther("/approvals")
    start_session(request, response, who)
    log.info("%s signed in with OIDC (%s)", who.name, who.role.label)
    raise response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/login", login_get),
        web.post("/login", login_post),
        web.post("/logout", logout),
        web.get("/login/oidc", oidc_begin),
        web.get("/auth/callback", oidc_callback),
    ]

