"""The sandbox HTTP API (docs/architecture.md, "Sandbox HTTP API").

Reads are open to the Observer. Action writes need a short-lived elevation JWT whose `targets`
claim names the service (no wildcard); fault injection needs the admin secret.

Service names may contain one slash (`kube-system/coredns`). Both spellings address it:
`/v1/services/kube-system/coredns/logs` and `/v1/services/kube-system%2Fcoredns/logs`. The
sub-resource routes are registered before the bare `/v1/services/{name}` route so `.../logs` is
never read as part of a name; the estate loader forbids names whose last segment is a
sub-resource word.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from warden_security.tokens import TokenRejected, TokenVerifier

from warden_sandbox.adapters.estate_file import EstateError, estate_from
from warden_sandbox.adapters.prometheus_exposition import CONTENT_TYPE
from warden_sandbox.domain.errors import InvalidParams, UnknownAction, UnknownService
from warden_sandbox.domain.service import ServiceState
from warden_sandbox.domain.world import World

log = logging.getLogger("warden_sandbox.http")
MAX_BODY = 64 * 1024
MAX_LOG_LINES = 1000
DEFAULT_LOG_LINES = 100
_NAME = r"{name:[^/]+(?:/[^/]+)?}"


@dataclass
class ApiDeps:
    world: World
    clock: Callable[[], datetime]
    verifier: TokenVerifier | None
    admin_secret: str | None
    # Awaited after every write and before answering: an acknowledged change is on disk.
    commit: Callable[[], Awaitable[None]]
    # Replaces the estate (None: the configured one), resolving open alerts first; answers how
    # many alerts it resolved.
    reset: Callable[[list[ServiceState] | None, int], Awaitable[int]] | None = None
    # Prometheus exposition: (status, body) for every service (None) or one; open like the reads.
    metrics: Callable[[str | None], tuple[int, bytes]] | None = None


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="warden-sandbox"'} if status == 401 else None
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


class SandboxApi:
    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_domain_errors])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/v1/services", self.list_services)
        app.router.add_get(f"/v1/services/{_NAME}/deployments", self.deployments)
        app.router.add_get(f"/v1/services/{_NAME}/logs", self.logs)
        app.router.add_get(f"/v1/services/{_NAME}/dependencies", self.dependencies)
        app.router.add_post(f"/v1/services/{_NAME}/actions/{{kind}}", self.action)
        app.router.add_get(f"/v1/services/{_NAME}", self.service)
        app.router.add_post("/v1/admin/faults", self.inject_fault)
        app.router.add_delete("/v1/admin/faults", self.clear_faults)
        app.router.add_post("/v1/admin/reset", self.reset)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "ticks": self.deps.world.ticks, "services": len(self.deps.world.services)}
        )

    async def metrics(self, request: web.Request) -> web.Response:
        if self.deps.metrics is None:
            return _error(404, "this sandbox serves no metrics")
        status, body = self.deps.metrics(request.query.get("service"))
        return web.Response(status=status, body=body, headers={"Content-Type": CONTENT_TYPE})

    async def list_services(self, request: web.Request) -> web.Response:
        return web.json_response({"services": self.deps.world.views()})

    async def service(self, request: web.Request) -> web.Response:
        return web.json_response(self.deps.world.get(request.match_info["name"]).view())

    async def deployments(self, request: web.Request) -> web.Response:
        svc = self.deps.world.get(request.match_info["name"])
        return web.json_response(
            {"deployments": [{"version": d.version, "at": d.at, "by": d.by} for d in svc.deployments]}
        )

    async def logs(self, request: web.Request) -> web.Response:
        svc = self.deps.world.get(request.match_info["name"])
        raw = request.query.get("limit", str(DEFAULT_LOG_LINES))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOG_LINES:
            return _error(422, f"limit must be an integer between 1 and {MAX_LOG_LINES}")
        return web.json_response({"lines": list(svc.logs)[-int(raw) :]})

    async def dependencies(self, request: web.Request) -> web.Response:
        return web.json_response(self.deps.world.neighbours(request.match_info["name"]))

    async def action(self, request: web.Request) -> web.Response:
        name, kind = request.match_info["name"], request.match_info["kind"]
        claims = self._authenticate(request)
        if isinstance(claims, web.Response):
            return claims
        targets = claims.get("targets")
        # Exactly the named targets: the elevation authority scopes each token to one action's target.
        if not isinstance(targets, list) or name not in targets:
            log.warning(
                "action refused: target not in token", extra={"target": name, "kind": kind, "sub": claims.get("sub")}
            )
            return _error(403, f"token does not grant access to {name!r}")
        self.deps.world.get(name)
        body = await _json_body(request)
        params = body.get("params", {})
        if not isinstance(params, dict):
            return _error(422, "params must be a JSON object")
        result = self.deps.world.apply(name, kind, params, now=self.deps.clock(), actor=str(claims["sub"]))
        await self.deps.commit()
        log.info(
            "action applied",
            extra={"target": name, "kind": kind, "params": params, "sub": claims["sub"], "jti": claims.get("jti")},
        )
        return web.json_response({"before": result.before, "after": result.after})

    def _authenticate(self, request: web.Request) -> dict[str, Any] | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "missing bearer token")
        if self.deps.verifier is None:
            # Fail closed: without a trusted elevation key no write can be authorised.
            return _error(401, "the sandbox has no trusted elevation key configured")
        try:
            return self.deps.verifier.verify(token.strip(), require=("targets",))
        except TokenRejected as err:
            log.warning("action refused: token rejected", extra={"reason": str(err)})
            return _error(401, str(err))

    def _admin_ok(self, request: web.Request) -> bool:
        secret = self.deps.admin_secret
        given = request.headers.get("X-Sandbox-Admin", "")
        return bool(secret) and hmac.compare_digest(given.encode(), str(secret).encode())

    async def inject_fault(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return _error(403, "admin secret missing or wrong")
        body = await _json_body(request)
        service, kind, log_text = body.pop("service", None), body.pop("kind", None), body.pop("log_text", None)
        if not isinstance(service, str) or not isinstance(kind, str):
            return _error(422, "service and kind are required strings")
        fault = self.deps.world.inject_fault(service, kind, body, now=self.deps.clock(), log_text=log_text)
        await self.deps.commit()
        log.info("fault injected", extra={"target": service, "kind": kind, "params": fault.params})
        return web.json_response(
            {"service": service, "kind": kind, "params": fault.params, "view": self.deps.world.get(service).view()},
            status=201,
        )

    async def clear_faults(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return _error(403, "admin secret missing or wrong")
        service = request.query.get("service")
        if not service:
            return _error(422, "query parameter service is required")
        cleared = self.deps.world.clear_faults(service, now=self.deps.clock())
        await self.deps.commit()
        log.info("faults cleared", extra={"target": service, "cleared": cleared})
        return web.json_response({"service": service, "cleared": cleared})


    async def reset(self, request: web.Request) -> web.Response:
        """Start a fresh estate: the bundled one, or `{"estate": {...}}` in estate.yaml's shape."""
        if not self._admin_ok(request):
            return _error(403, "admin secret missing or wrong")
        if self.deps.reset is None:
            return _error(501, "this sandbox cannot be reset")
        body = await _json_body(request)
        seed = body.get("seed", 7)
        if isinstance(seed, bool) or not isinstance(seed, int):
            return _error(422, "seed must be an integer")
        try:
            services = estate_from(body["estate"], self.deps.clock()) if "estate" in body else None
        except EstateError as err:
            return _error(422, str(err))
        resolved = await self.deps.reset(services, seed)
        log.info("estate reset", extra={"services": list(self.deps.world.services), "resolved": resolved})
        return web.json_response({"services": sorted(self.deps.world.services), "resolved_alerts": resolved})


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body is not valid JSON"}), content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return body


@web.middleware
async def _domain_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except (UnknownService, UnknownAction) as err:
        return _error(404, str(err))
    except InvalidParams as err:
        return _error(422, "invalid parameters", details=err.errors)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body larger than {MAX_BODY} bytes")
