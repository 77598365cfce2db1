"""Just-in-time elevation over NATS: the executor asks, the elevation service (services/elevation)
grants a user JWT that expires on its own (the server disconnects the holder at `exp`), and the
executor drains with it.

The requester publishes on `warden.elevation.request.<identity>`; only that identity may, so the
authority reads who asks from the subject. A grant is for one ticketed action; its release needs
the grant's secret.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import nkeys
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, Field
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus import nats_jwt, tracing
from warden_bus.embedded_auth import AuthMaterial
from warden_bus.nats_settlement import settle_message
from warden_bus.permissions import elevated_permissions, inbox_prefix
from warden_bus.port import Handler, SubscriptionOptions
from warden_bus.settings import nats_servers

log = logging.getLogger("warden.elevation")


class ElevationRequest(BaseModel):
    principal: str
    justification: str
    ttl_s: int = 60
    # The approved action the grant is for (policy's ticket names it); None asks for the oldest
    # ticket not yet released (job-style drains, which start without a doorbell).
    action_id: str | None = None
    # The target the requester means to write; refused when the ticket names another.
    target: str | None = None


class ElevationGrant(BaseModel):
    grant_id: str
    principal: str
    expires_at: float
    action_id: str | None = None
    target: str | None = None
    incident_id: str | None = None
    # Credentials: kept out of reprs, so a logged grant or a traceback never shows them.
    nats_jwt: str = Field(repr=False)
    nats_seed: str = Field(repr=False)
    # Opaque extras from the authority (the sandbox write token in the embedded mode).
    extras: dict[str, str] = Field(default_factory=dict, repr=False)
    # Proof of holding the grant: a release without it is refused (and audited).
    release_secret: str = Field("", repr=False)


class ElevationRefused(RuntimeError):
    pass


def mint_elevated_user(material: AuthMaterial, principal: str, ttl_s: int) -> tuple[str, str, float]:
    user = nats_jwt.new_keypair("user")
    expires_at = time.time() + ttl_s
    jwt = nats_jwt.user_jwt(
        material.account_keypair(),
        user.public_key.decode(),
        f"{principal}-elevated",
        elevated_permissions(principal),
        expires_at=expires_at,
    )
    return jwt, nats_jwt.seed_of(user), expires_at


class ReleaseRequest(BaseModel):
    grant_id: str
    secret: str = Field("", repr=False)


# (requester identity from the subject, request) -> grant; raising refuses with the error's text.
GrantFn = Callable[[str, ElevationRequest], Awaitable[ElevationGrant]]
ReleaseFn = Callable[[str, ReleaseRequest], Awaitable[None]]


def _requester(subject: str) -> str:
    return subject.rsplit(".", 1)[-1]


async def serve_authority(url: str, creds: str, grant: GrantFn, release: ReleaseFn) -> nats.NATS:
    """Answer elevation requests and releases; returns the connection so the caller can close it."""
    nc = await nats.connect(
        nats_servers(url),
        user_credentials=creds,
        inbox_prefix=inbox_prefix("elevation"),
        name="warden-elevation",
        max_reconnect_attempts=-1,
    )

    async def answer(msg: Msg, body: dict[str, Any]) -> None:
        if msg.reply:
            await msg.respond(json.dumps(body).encode())

    async def on_request(msg: Msg) -> None:
        try:
            with tracing.joined(msg.headers):
                granted = await grant(_requester(msg.subject), ElevationRequest.model_validate_json(msg.data))
            await answer(msg, {"ok": True, "grant": granted.model_dump()})
        except Exception as err:
            log.warning("elevation refused: %s", err)
            await answer(msg, {"ok": False, "error": str(err)})

    async def on_release(msg: Msg) -> None:
        try:
            with tracing.joined(msg.headers):
                await release(_requester(msg.subject), ReleaseRequest.model_validate_json(msg.data))
            await answer(msg, {"ok": True})
        except Exception as err:
            log.warning("release refused: %s", err)
            await answer(msg, {"ok": False, "error": str(err)})

    await nc.subscribe(f"{topo.ELEVATION_REQUEST_SUBJECT}.*", cb=on_request)
    await nc.subscribe(f"{topo.ELEVATION_RELEASE_SUBJECT}.*", cb=on_release)
    await nc.flush()
    return nc


class NatsElevationClient:
    """Used by the executor's standing identity: it can ask, but holds no right to the actions."""

    def __init__(self, url: str, creds: str, identity: str = "executor") -> None:
        self._url, self._creds, self.identity = url, creds, identity

    async def _request(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        nc = await nats.connect(
            nats_servers(self._url),
            user_credentials=self._creds,
            inbox_prefix=inbox_prefix(self.identity),
            allow_reconnect=False,
            connect_timeout=5,
        )
        try:
            reply = await nc.request(subject, json.dumps(body).encode(), timeout=10, headers=tracing.current_headers())
            return json.loads(reply.data)
        finally:
            await nc.close()

    async def elevate(
        self, justification: str, ttl_s: int, action_id: str | None = None, target: str | None = None
    ) -> ElevationGrant:
        request = ElevationRequest(
            principal=self.identity, justification=justification, ttl_s=ttl_s, action_id=action_id, target=target
        )
        with tracing.span("elevation.activate", warden__principal=self.identity, warden__ttl_s=ttl_s):
            answer = await self._request(topo.elevation_request_subject(self.identity), request.model_dump())
        if not answer.get("ok"):
            raise ElevationRefused(str(answer.get("error")))
        return ElevationGrant.model_validate(answer["grant"])

    async def release(self, grant_id: str, secret: str) -> None:
        with tracing.span("elevation.release", warden__principal=self.identity, warden__grant_id=grant_id):
            answer = await self._request(
                topo.elevation_release_subject(self.identity), {"grant_id": grant_id, "secret": secret}
            )
        if not answer.get("ok"):
            raise ElevationRefused(str(answer.get("error")))


@dataclass
class NatsElevatedDrain:
    """Consume an elevated topic with a granted JWT, then disconnect; the JWT then expires."""

    url: str
    grant: ElevationGrant
    identity: str = "executor"

    @property
    def _prefix(self) -> str:
        return f"{inbox_prefix(self.identity)}_elevated"

    async def _connect(self) -> nats.NATS:
        keypair = nkeys.from_seed(self.grant.nats_seed.encode())

        def jwt_cb() -> bytes:
            return self.grant.nats_jwt.encode()

        def sign_cb(nonce: str) -> bytes:
            return base64.b64encode(keypair.sign(nonce.encode()))

        return await nats.connect(
            nats_servers(self.url),
            user_jwt_cb=jwt_cb,
            signature_cb=sign_cb,
            inbox_prefix=self._prefix,
            allow_reconnect=False,
            connect_timeout=5,
            name=f"warden-{self.identity}-elevated",
        )

    async def in_flight(self, topic: str) -> int:
        """Messages of the durable not yet acknowledged: delivered to a process that died and
        awaiting redelivery, or already back in line."""
        t = topo.topic(topic)
        nc = await self._connect()
        try:
            info = await nc.jetstream().consumer_info(t.stream, self.identity)
            return int(info.num_ack_pending or 0) + int(info.num_pending or 0)
        finally:
            await nc.close()

    async def drain(self, topic: str, handler: Handler, *, max_messages: int = 100) -> int:
        t = topo.topic(topic)
        prefix = self._prefix
        nc = await self._connect()
        handled = 0
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe_bind(
                durable=self.identity, stream=t.stream, inbox_prefix=f"{prefix}.".encode()
            )
            options = SubscriptionOptions()

            async def publish_letter(letter: Envelope) -> None:
                await js.publish(
                    topo.deadletter_subject(self.identity), letter.to_bytes(), headers={"Nats-Msg-Id": letter.id}
                )

            while handled < max_messages and time.time() < self.grant.expires_at:
                try:
                    batch = await sub.fetch(batch=1, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    break
                for msg in batch:
                    await settle_message(self.identity, t, msg, handler, options, publish_letter, confirm_ack=True)
                    handled += 1
        finally:
            await nc.close()
        return handled
