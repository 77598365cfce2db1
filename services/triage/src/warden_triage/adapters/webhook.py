"""The webhook gateway: authenticated, size-limited HTTP ingest for every registered alert source.

`POST /webhooks/<route>` for each source in the registry. Rejections of authenticated calls are
dead-lettered on the bus (audit records them); unauthenticated bodies are never stored. When more
calls are in flight than the gateway admits, or the bus refuses, the caller gets 429 / 503 with
`Retry-After`: every alert source retries those, so a storm slows down instead of losing alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from aiohttp import StreamReader, web
from pydantic import TypeAdapter
from warden_bus.runtime import Counters
from warden_contracts import topology as topo
from warden_contracts.envelope import MAX_MESSAGE_BYTES, Envelope, envelope_for, new_id
from warden_contracts.events import AlertReceived, DeadLettered

from warden_triage.adapters.backlog import Backlog
from warden_triage.adapters.webhook_auth import Authenticator, presented_headers
from warden_triage.adapters.webhook_body import BodyDecoder, BodyError, json_body, parse_json
from warden_triage.domain.fingerprint import delivery_id
from warden_triage.domain.sources import AlertSource, NormalisationError, SourceRegistry

__all__ = ["ALERT_TOPIC", "WebhookGateway", "alert_envelope", "parse_json"]

ALERT_TOPIC = "sre.alert.received.v1"
ALERT_DATASCHEMA = f"urn:warden:schema:{ALERT_TOPIC}"  # as `envelope_for` names it
SOURCE = "warden/triage"
SERVICE = "triage"
DEADLETTER_TEXT_LIMIT = 4096
RETRY_AFTER_BUSY_S = 1
# A full backlog (5,000 alerts by default) takes the consumer about 2 s to work off on the 2-core
# machine: asked back after 2 s, the storm's senders left it idle for part of every wait.
RETRY_AFTER_BACKLOG_S = 1
RETRY_AFTER_UNAVAILABLE_S = 5
log = logging.getLogger("warden.triage.webhook")
# How pydantic writes a `datetime` field in JSON mode (`Z` for UTC, its own fraction digits).
_DATETIME_JSON = TypeAdapter(datetime).dump_python


class EnvelopePublisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


@runtime_checkable
class BatchPublisher(EnvelopePublisher, Protocol):
    async def publish_many(self, envelopes: Sequence[Envelope]) -> None: ...


class BusUnavailable(RuntimeError):
    """The broker connection is down or did not acknowledge within the gateway's deadline."""


class AcknowledgementLate(BusUnavailable):
    """Connected, but the broker did not acknowledge within the deadline: it is busy (a storm's
    fsyncs), not gone, so the source is asked back as soon as for any other overload."""


def alert_data(alert: AlertReceived) -> dict[str, Any]:
    """`alert.model_dump(mode="json")`, written from the validated fields directly (a quarter of
    the time: one per alert on the webhook). Every field but three already is its JSON value;
    `raw` holds parsed JSON, so its copy is one level deep (the envelope's encoder writes nested
    values as they are). A model with extra fields, or a subclass, takes pydantic's dump."""
    if type(alert) is not AlertReceived or alert.__pydantic_extra__:
        return alert.model_dump(mode="json")
    data = dict(alert.__dict__)
    data["severity"] = alert.severity.value
    data["fired_at"] = _DATETIME_JSON(alert.fired_at, mode="json")
    data["labels"] = dict(alert.labels)
    data["raw"] = dict(alert.raw)
    return data


def alert_envelope(alert: AlertReceived) -> Envelope:
    """Same notification -> same id, so the broker drops a re-posted alert; a new episode of the
    same alert gets a new id (see `delivery_id`). What `envelope_for` builds, from `alert_data`;
    every field is a str made here or that dict, so it is assembled, not validated again."""
    return Envelope.assembled(
        id=delivery_id(alert),
        source=SOURCE,
        type=ALERT_TOPIC,
        subject=alert.alert_id,
        dataschema=ALERT_DATASCHEMA,
        correlationid=f"alert:{alert.alert_id}",
        causationid=None,
        data=alert_data(alert),
    )


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
    authenticators: Mapping[str, Authenticator]
    max_payload_bytes: int
    counters: Counters
    max_inflight: int = 256
    decoders: Mapping[str, BodyDecoder] = field(default_factory=dict)
    backlog: Backlog | None = None
    # How long a call that finds the backlog full waits for room before it is answered 429.
    backlog_hold_s: float = 2.0
    # Publishes in flight across all calls. The broker fsyncs what arrived together at once, so
    # more in flight is more alerts per fsync (32: 490 alerts/s, 512: 1,300 in the same bench);
    # the consumer takes whole batches now, so many ready publish tasks no longer starve it.
    publish_concurrency: int = 512
    # With the broker down a source must hear 503 at once, not after the bus's own retries
    # (about 20 s): `bus_ready` is the connection state, the deadline covers a publish in flight.
    bus_ready: Callable[[], bool] = lambda: True
    publish_deadline_s: float = 5.0
    _inflight: int = 0
    _publishing: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._publishing = asyncio.Semaphore(self.publish_concurrency)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/webhooks/{route}", self._handler(route)) for route in self.registry.routes()]

    def _handler(self, route: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        source = self.registry.by_route(route)
        auth = self.authenticators.get(route)
        if source is None or auth is None:
            raise ValueError(f"webhook route {route!r} has no source or no authenticator")
        decode = self.decoders.get(route, json_body)

        async def handle(request: web.Request) -> web.Response:
            if self._inflight >= self.max_inflight:
                self.counters.inc("webhook_busy")
                return web.json_response(
                    {"error": "too many alerts in flight, retry later"},
                    status=429,
                    headers={"Retry-After": str(RETRY_AFTER_BUSY_S)},
                )
            self._inflight += 1
            try:
                return await self.receive(request, route, source, auth, decode)
            finally:
                self._inflight -= 1

        return handle

    async def receive(
        self, request: web.Request, route: str, source: AlertSource, auth: Authenticator, decode: BodyDecoder
    ) -> web.Response:
        if not auth.signs_body:  # a bearer token is checked before reading anything
            refused = auth.verify(presented_headers(route, request.headers, request.query), b"")
            if refused is not None:
                return self._unauthorised(route, request, auth, refused)
        try:
            raw = await self._read_body(request)
        except Rejected as rejected:
            if auth.signs_body:
                # A signed body cannot be verified without reading all of it: answer, never store.
                self.counters.inc("webhook_rejected", status=str(rejected.status))
                return web.json_response(rejected.body(), status=rejected.status)
            return await self._reject(route, rejected.evidence or b"", rejected.size or 0, rejected)
        if auth.signs_body:
            refused = auth.verify(request.headers, raw)
            if refused is not None:
                return self._unauthorised(route, request, auth, refused)
        try:
            alerts = self._normalise(source, decode, request.headers, raw)
        except Rejected as rejected:
            return await self._reject(route, raw, len(raw), rejected)
        envelopes = [alert_envelope(alert) for alert in alerts]
        # Encoded once: the publisher sends the bytes measured here.
        oversize = next((e for e in envelopes if len(e.keep_bytes()) > MAX_MESSAGE_BYTES), None)
        if oversize is not None:
            reason = f"normalised alert {oversize.subject} exceeds the {MAX_MESSAGE_BYTES}-byte bus message limit"
            return await self._reject(route, raw, len(raw), Rejected(413, reason))
        if self.backlog is None:
            return await self._publish_all(alerts, envelopes)
        if self.backlog.full:
            self.counters.inc("webhook_held")
        if not await self.backlog.admit(len(envelopes), self.backlog_hold_s):
            self.counters.inc("webhook_backlogged")
            return web.json_response(
                {"error": f"{self.backlog.depth} alerts waiting for triage, retry later"},
                status=429,
                headers={"Retry-After": str(RETRY_AFTER_BACKLOG_S)},
            )
        try:
            return await self._publish_all(alerts, envelopes)
        finally:
            self.backlog.released(len(envelopes))  # what was published is `accepted` by now

    async def _publish_all(self, alerts: list[AlertReceived], envelopes: list[Envelope]) -> web.Response:
        # Concurrent: one group of alerts costs one broker round trip, not one per alert. A partly
        # published group is re-sent whole by the source; the derived ids make the repeats no-ops.
        if not self.bus_ready():
            results: list[Any] = [BusUnavailable("not connected to the broker")]
            envelopes = envelopes[:1]
        elif isinstance(self.publisher, BatchPublisher) and len(envelopes) > 1:
            results = [await self._publish_group(envelopes)] * len(envelopes)
        else:
            results = await asyncio.gather(*(self._publish(e) for e in envelopes), return_exceptions=True)
        failed = [(e, r) for e, r in zip(envelopes, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            envelope, error = failed[0]
            log.error(
                "could not publish %d of %d alerts: %s",
                len(failed),
                len(envelopes),
                error,
                extra={"correlationid": envelope.correlationid},
            )
            self.counters.inc("webhook_unavailable")
            late = all(isinstance(r, AcknowledgementLate) for _, r in failed)
            return web.json_response(
                {"error": "alert bus unavailable, retry later"},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_BUSY_S if late else RETRY_AFTER_UNAVAILABLE_S)},
            )
        truncated = max((int(a.labels.get("truncated_alerts", "0")) for a in alerts), default=0)
        if truncated:
            self.counters.inc("webhook_truncated_alerts", truncated)
            log.warning("the source dropped %d alerts of a group before sending (truncatedAlerts)", truncated)
        if self.backlog is not None:
            self.backlog.accepted(len(envelopes))
        accepted = [{"alert_id": a.alert_id, "message_id": e.id} for a, e in zip(alerts, envelopes, strict=True)]
        self.counters.inc("webhook_accepted", len(accepted))
        body: dict[str, Any] = dict(accepted[0]) if len(accepted) == 1 else {}
        body |= {"accepted": accepted} | ({"truncated_alerts": truncated} if truncated else {})
        return web.json_response(body, status=202)

    async def _publish_group(self, envelopes: list[Envelope]) -> BaseException | None:
        """A group (an Alertmanager notification) as one batch: its acks awaited together."""
        assert isinstance(self.publisher, BatchPublisher)
        try:
            await asyncio.wait_for(self.publisher.publish_many(envelopes), self.publish_deadline_s)
        except TimeoutError:
            return AcknowledgementLate(f"no broker acknowledgement within {self.publish_deadline_s:g}s")
        except Exception as err:
            return err
        return None

    async def _publish(self, envelope: Envelope) -> None:
        async with self._publishing:
            if not self.bus_ready():  # it may have dropped while this call waited for its turn
                raise BusUnavailable("not connected to the broker")
            try:
                await asyncio.wait_for(self.publisher.publish(envelope), self.publish_deadline_s)
            except TimeoutError:
                raise AcknowledgementLate(f"no broker acknowledgement within {self.publish_deadline_s:g}s") from None

    def _unauthorised(self, route: str, request: web.Request, auth: Authenticator, reason: str) -> web.Response:
        self.counters.inc("webhook_unauthorized")
        log.warning("unauthenticated webhook call refused: %s", reason, extra={"route": route, "peer": request.remote})
        return web.json_response({"error": f"unauthenticated: {reason}"}, status=401, headers=auth.challenge())

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

    def _normalise(
        self, source: AlertSource, decode: BodyDecoder, headers: Mapping[str, str], raw: bytes
    ) -> list[AlertReceived]:
        try:
            payload = decode(headers, raw)
        except BodyError as err:
            raise Rejected(400, str(err), err.field) from None
        try:
            alerts = source.normalise(payload)
        except NormalisationError as err:
            raise Rejected(422, err.message, err.field) from None
        if not alerts:
            raise Rejected(422, "payload holds no alert", "$")
        return alerts

    async def _reject(self, route: str, raw: bytes, size: int, rejected: Rejected) -> web.Response:
        self.counters.inc("webhook_rejected", status=str(rejected.status))
        where = f"webhook /webhooks/{route}"
        log.warning("%s rejected (%s): %s", where, rejected.status, rejected.reason, extra={"field": rejected.field})
        letter_id = new_id()
        field_note = f" (field {rejected.field})" if rejected.field else ""
        payload = DeadLettered(
            service=SERVICE,
            topic=ALERT_TOPIC,
            reason=f"{where}: HTTP {rejected.status}: {rejected.reason}{field_note}",
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
