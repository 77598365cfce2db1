"""Server-side sessions and the request guards every page relies on.

The cookie holds only a random id (HttpOnly, SameSite=Lax so the OIDC redirect back still signs in,
Secure whenever the console is served over https). Every state-changing form carries the session's
CSRF token and must come from our own origin.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from warden_console.domain.roles import Principal

COOKIE = "warden_console"
# Every anonymous visit to /login opens a session: bound them so a flood of cookie-less requests
# cannot grow memory without limit. At the bound the oldest anonymous sessions go first.
MAX_SESSIONS = 10_000
SECURE_KEY: web.AppKey[bool] = web.AppKey("secure_cookies", bool)
SESSION_REQ: web.RequestKey[Session | None] = web.RequestKey("session", object)  # type: ignore[arg-type]
# Machine-to-machine endpoints authenticate each request themselves (Bot Connector JWT, Slack HMAC).
CSRF_EXEMPT_PREFIXES = ("/api/teams/", "/api/slack/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    sid: str
    csrf: str
    expires: float
    principal: Principal | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SessionStore:
    def __init__(self, ttl_s: int = 8 * 3600, max_sessions: int = MAX_SESSIONS) -> None:
        self._ttl = ttl_s
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}

    def new(self) -> Session:
        self._sweep()
        self._evict_anonymous()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time() + self._ttl)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid or "")
        if session and session.expires > time.time():
            return session
        return None

    def drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _evict_anonymous(self) -> None:
        excess = len(self._sessions) - self._max + 1
        if excess <= 0:
            return
        # Insertion order is creation order; signed-in people keep their sessions.
        anonymous = [sid for sid, s in self._sessions.items() if s.principal is None][:excess]
        for sid in anonymous:
            del self._sessions[sid]

    def _sweep(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[sid]


SESSION_KEY: web.AppKey[SessionStore] = web.AppKey("sessions", SessionStore)


def current(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION_REQ)
    return session


def principal(request: web.Request) -> Principal | None:
    session = current(request)
    return session.principal if session else None


def open_session(request: web.Request, who: Principal | None) -> Session:
    """A fresh session id at every sign-in (no session fixation)."""
    store = request.app[SESSION_KEY]
    old = current(request)
    if old:
        store.drop(old.sid)
    session = store.new()
    session.principal = who
    request[SESSION_REQ] = session
    return session


def set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    secure = request.app[SECURE_KEY] or request.secure
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Lax", secure=secure, path="/")


def start_session(request: web.Request, response: web.StreamResponse, who: Principal | None) -> Session:
    session = open_session(request, who)
    set_cookie(request, response, session)
    return session


def end_session(request: web.Request, response: web.StreamResponse) -> None:
    session = current(request)
    if session:
        request.app[SESSION_KEY].drop(session.sid)
    response.del_cookie(COOKIE, path="/")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        referer = request.headers.get("Referer", "")
        return not referer or referer.startswith(f"{request.scheme}://{request.host}/")
    return origin == f"{request.scheme}://{request.host}"


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[SESSION_REQ] = request.app[SESSION_KEY].get(request.cookies.get(COOKIE))
    exempt = request.path.startswith(CSRF_EXEMPT_PREFIXES)
    if request.method not in {"GET", "HEAD", "OPTIONS"} and not exempt:
        session = current(request)
        form = await request.post()
        sent = str(form.get("csrf", ""))
        # Bytes: compare_digest raises TypeError on non-ASCII str, which would be a 500, not a 403.
        sent_ok = session is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())
        if not sent_ok or not _same_origin(request):
            raise web.HTTPForbidden(text="CSRF check failed: reload the page and try again")
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
