"""The webhook gateway: authenticated, size-limited HTTP ingest for every registered alert source.

`POST /webhooks/<route>` for each source in the registry. Rejections other than 401 are
dead-lettered on the bus (audit records them); unauthenticated bodies are never stored.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from aiohttp import StreamReader, web
from warden_bus.runtime import Counters
from warden_contracts import topology as topo
from warden_contracts.envelope import MAX_MESSAGE_BYTES, Envelope, derived_id, envelope_for, new_id
from warden_contracts.events import AlertReceived, DeadLettered

from warden_triage.domain.sources import AlertSource, NormalisationError, SourceRegistry

ALERT_TOPIC = "sre.alert.received.v1"
SOURCE = "warden/triage"
SERVICE = "triage"
DEADLETTER_TEXT_LIMIT = 4096
log = logging.getLogger("warden.triage.webhook")


class EnvelopePublisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


def alert_envelope(alert: AlertReceived) -> Envelope:
    """Same alert and condition -> same id, so the broker drops a re-posted alert."""
    return envelope_for(
        ALERT_TOPIC,
        alert,
        source=SOURCE,
        correlationid=f"alert:{alert.alert_id}",
        subject=alert.alert_id,
        id=derived_id(alert.alert_id, alert.status),
    )


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity; raises ValueError with a short reason."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise ValueError(f"body is not UTF-8: {err.reason}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None


async def _read_at_most(stream: StreamReader, size: int) -> bytes:
    """`StreamReader.read(n)` returns what is buffered; loop until `size` bytes or the end."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = await stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class Rejected(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        field: str | None = None,
        *,
        evidence: bytes | None = None,
        size: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field
        self.evidence = evidence
        self.size = size

    def body(self) -> dict[str, str]:
        return {"error": self.reason} | ({"field": self.field} if self.field is not None else {})


@dataclass
class WebhookGateway:
    registry: SourceRegistry
    publisher: EnvelopePublisher
    token: str
    max_payload_bytes: int
    counters: Counters

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/webhooks/{route}", self._handler(route)) for route in self.registry.routes()]

    def _handler(self, route: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        source = self.registry.by_route(route)
        assert source is not None

        async def handle(request: web.Request) -> web.Response:
            return await self.receive(request, route, source)

        return handle

    async def receive(self, request: web.Request, route: str, source: AlertSource) -> web.Response:
        if not self._authorised(request.headers.get("Authorization", "")):
            self.counters.inc("webhook_unauthorized")
            log.warning("unauthenticated webhook call refused", extra={"route": route, "peer": request.remote})
            return web.json_response(
                {"error": "missing or invalid bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="warden-triage"'},
            )
        raw = b""
        try:
            raw = await self._read_body(request)
            alerts = self._normalise(source, raw)
        except Rejected as rejected:
            evidence = rejected.evidence if rejected.evidence is not None else raw
            return await self._reject(route, evidence, rejected.size or len(evidence), rejected)
        envelopes = [alert_envelope(alert) for alert in alerts]
        oversize = next((e for e in envelopes if len(e.to_bytes()) > MAX_MESSAGE_BYTES), None)
        if oversize is not None:
            return await self._reject(
                route,
                raw,
                len(raw),
                Rejected(
                    413, f"normalised alert {oversize.subject} exceeds the {MAX_MESSAGE_BYTES}-byte bus message limit"
                ),
            )
        accepted = []
        for alert, envelope in zip(alerts, envelopes, strict=True):
            try:
                await self.publisher.publish(envelope)
            except Exception:
                log.exception(
                    "could not publish alert %s", alert.alert_id, extra={"correlationid": envelope.correlationid}
                )
                self.counters.inc("webhook_unavailable")
                return web.json_response({"error": "alert bus unavailable, retry later"}, status=503)
            accepted.append({"alert_id": alert.alert_id, "message_id": envelope.id})
        self.counters.inc("webhook_accepted", len(accepted))
        body: dict[str, Any] = dict(accepted[0]) if len(accepted) == 1 else {}
        return web.json_response(body | {"accepted": accepted}, status=202)

    def _authorised(self, header: str) -> bool:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.max_payload_bytes
        too_big = f"payload exceeds {limit} bytes"
        declared = request.content_length
        if declared is not None and declared > limit:
            # Keep the start of the body as evidence, but never read the oversize rest.
            head = await _read_at_most(request.content, DEADLETTER_TEXT_LIMIT)
            raise Rejected(413, too_big, evidence=head, size=declared)
        raw = await _read_at_most(request.content, limit + 1)
        if len(raw) > limit:
            raise Rejected(413, too_big, evidence=raw, size=len(raw))
        return raw

    def _normalise(self, source: AlertSource, raw: bytes) -> list[AlertReceived]:
        try:
            payload = parse_json(raw)
        except ValueError as err:
            raise Rejected(400, str(err)) from None
        try:
            alerts = source.normalise(payload)
        except NormalisationError as err:
            raise Rejected(422, err.message, err.field) from None
        if not alerts:
            raise Rejected(422, "payload holds no alert", "$")
        return alerts

    async def _reject(self, route: str, raw: bytes, size: int, rejected: Rejected) -> web.Response:
        self.counters.inc(f"webhook_rejected_{rejected.status}")
        where = f"webhook /webhooks/{route}"
        log.warning("%s rejected (%s): %s", where, rejected.status, rejected.reason, extra={"field": rejected.field})
        letter_id = new_id()
        field = f" (field {rejected.field})" if rejected.field else ""
        payload = DeadLettered(
            service=SERVICE,
            topic=ALERT_TOPIC,
            reason=f"{where}: HTTP {rejected.status}: {rejected.reason}{field}",
            deliveries=1,
            original_text=raw[:DEADLETTER_TEXT_LIMIT].decode("utf-8", errors="replace"),
            original_size=size,
        )
        letter = envelope_for(
            topo.DEADLETTER_TOPIC, payload, source=SOURCE, correlationid=f"webhook:{letter_id}", id=letter_id
        )
        try:
            await self.publisher.publish(letter)
        except Exception:
            # The caller still learns why; the failure to record is loud in the logs and metrics.
            log.exception(
                "could not dead-letter a rejected webhook payload", extra={"correlationid": letter.correlationid}
            )
            self.counters.inc("webhook_deadletter_failed")
        return web.json_response(rejected.body(), status=rejected.status)
