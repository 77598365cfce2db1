"""Trace context across the bus: W3C `traceparent` in message headers, one span per handled message.

Broker adapters call `publishing(envelope)` around a publish (it yields the headers to send) and
`handling(topic, envelope, headers)` around a handler; nothing here knows a broker, so the NATS
and the Service Bus adapters propagate context the same way.

One trace per incident: a message's parent is, in order, the consumer span of its cause handled in
this process (outbox flushes and timers run outside the handler's context), the span current at
publish time, and otherwise the first span this process saw for the same correlation id; when the
causal parent belongs to another trace (a later alert, an approval typed at a CLI) the message
still joins the incident's first trace and links to its cause.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from warden_contracts.envelope import Envelope

TRACER_NAME = "warden"
_REMEMBERED = 4096
_ANCHOR_TTL_S = 6 * 3600.0

_provider: trace.TracerProvider | None = None
# OpenTelemetry sets its global provider once: when it is an SDK one, it stays so.
_global_sdk = False
# `get_tracer_provider` loads a provider named in this variable; read once, like it is in practice.
_ENV_PROVIDER = OTEL_PYTHON_TRACER_PROVIDER in os.environ
_UNKNOWN = object()
_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("warden_correlationid", default=None)


class _Recent:
    """Bounded id -> span context map; old entries fall out first, and expire after `ttl_s`."""

    def __init__(self, size: int = _REMEMBERED, ttl_s: float = 3600.0) -> None:
        self._items: OrderedDict[str, tuple[SpanContext, float]] = OrderedDict()
        self._size = size
        self._ttl_s = ttl_s

    def get(self, key: str | None) -> SpanContext | None:
        found = self._items.get(key) if key else None
        if found is None or time.monotonic() - found[1] > self._ttl_s:
            return None
        return found[0]

    def put(self, key: str, value: SpanContext, *, keep_first: bool = False) -> None:
        if keep_first and self.get(key) is not None:
            return
        self._items[key] = (value, time.monotonic())
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


_handled = _Recent()  # message id -> the consumer span that handled it here
# correlation id -> the first span of that incident seen here. Expires, so a correlation id that
# lives for ever (operator controls share one per kind) does not grow one endless trace.
_incidents = _Recent(ttl_s=_ANCHOR_TTL_S)


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Route Warden's spans to `provider` (None: the global one) and forget remembered contexts."""
    global _provider
    _provider = provider
    _handled.clear()
    _incidents.clear()


def tracer() -> trace.Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)


def active() -> bool:
    """Whether anyone collects spans: a provider was given here or an SDK provider set globally.

    When nobody does, the helpers below skip building spans (measured: 28 % of triage's publish
    path went into spans on the no-op tracer) and only pass the caller's trace context along."""
    global _global_sdk
    if _provider is not None:
        return not isinstance(_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    if _global_sdk:
        return True
    # a missing attribute (an OpenTelemetry that renamed it) is not None: it takes the full lookup
    if getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None and not _ENV_PROVIDER:
        # nothing set globally: skip `get_tracer_provider`'s environment lookup (a raised KeyError
        # on every message: measured, 2 us a call, per publish and per handled message)
        return False
    _global_sdk = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return _global_sdk


def _carried(headers: Mapping[str, str] | None) -> SpanContext | None:
    if not headers or "traceparent" not in headers:
        return None
    return _valid(trace.get_current_span(extract(dict(headers))).get_span_context())


@contextmanager
def _passing_through(ctx: SpanContext | None) -> Iterator[None]:
    """No spans of our own: make the caller's context current so what we publish carries it."""
    if ctx is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(ctx)))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_correlationid() -> str | None:
    """The correlation id of the message being handled (for log records)."""
    return _correlation.get()


def clean_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, str | bool | int | float) else str(value)
    return out


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """An internal span under the current one (tool call, LLM call, policy evaluation, elevation, action).

    Attribute names may use `__` for dots: `span("tool", warden__tool="metrics")`."""
    if not active():
        yield trace.INVALID_SPAN
        return
    attrs = clean_attributes({k.replace("__", "."): v for k, v in attributes.items()})
    with tracer().start_as_current_span(name, attributes=attrs) as current:
        yield current


def current_headers() -> dict[str, str]:
    """The current trace context as headers, for request-reply calls that are not bus messages."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


@contextmanager
def joined(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block inside the trace context carried by `headers` (the caller's)."""
    token = otel_context.attach(extract(dict(headers or {})))
    try:
        yield
    finally:
        otel_context.detach(token)


def _valid(ctx: SpanContext | None) -> SpanContext | None:
    return ctx if ctx is not None and ctx.is_valid else None


def _parent_and_links(envelope: Envelope, causal: SpanContext | None) -> tuple[otel_context.Context, list[Link]]:
    anchor = _incidents.get(envelope.correlationid)
    if causal is not None and (anchor is None or anchor.trace_id == causal.trace_id):
        return trace.set_span_in_context(trace.NonRecordingSpan(causal)), []
    if anchor is not None:
        links = [Link(causal, {"warden.link": "cause"})] if causal is not None else []
        return trace.set_span_in_context(trace.NonRecordingSpan(anchor)), links
    # A new incident: a fresh root (an empty context, not whatever happens to be current).
    return otel_context.Context(), []


def _messaging(envelope: Envelope, topic: str, operation: str) -> dict[str, Any]:
    return clean_attributes(
        {
            "messaging.system": "warden",
            "messaging.operation.type": operation,
            "messaging.destination.name": topic,
            "messaging.message.id": envelope.id,
            "messaging.message.conversation_id": envelope.correlationid,
            "warden.correlationid": envelope.correlationid,
            "warden.causationid": envelope.causationid,
            "warden.source": envelope.source,
            "warden.subject": envelope.subject,
        }
    )


@contextmanager
def publishing(envelope: Envelope) -> Iterator[dict[str, str]]:
    """A producer span for one publish; yields the headers (`traceparent`, ...) to send with it."""
    causal = _valid(_handled.get(envelope.causationid)) or _valid(trace.get_current_span().get_span_context())
    if not active():
        headers: dict[str, str] = {}
        if causal is not None:
            inject(headers, context=trace.set_span_in_context(trace.NonRecordingSpan(causal)))
        yield headers
        return
    parent, links = _parent_and_links(envelope, causal)
    with tracer().start_as_current_span(
        f"send {envelope.type}",
        context=parent,
        kind=SpanKind.PRODUCER,
        links=links,
        attributes=_messaging(envelope, envelope.type, "send"),
    ) as producer:
        _incidents.put(envelope.correlationid, producer.get_span_context(), keep_first=True)
        carrier: dict[str, str] = {}
        inject(carrier)
        yield carrier


@contextmanager
def handling(topic: str, envelope: Envelope | None, headers: Mapping[str, str] | None) -> Iterator[Span]:
    """The consumer span of one message, named after its topic; joined to the producer's trace.

    `envelope` is None for a message that could not be parsed: the span still records it."""
    if not active():
        with _quietly_handling(envelope, headers):
            yield trace.INVALID_SPAN
        return
    carried = _valid(trace.get_current_span(extract(dict(headers or {}))).get_span_context())
    if envelope is not None:
        parent, links = _parent_and_links(envelope, carried)
        attrs = _messaging(envelope, topic, "process")
    else:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(carried)) if carried else otel_context.Context()
        links, attrs = [], clean_attributes({"messaging.system": "warden", "messaging.destination.name": topic})
    token = _correlation.set(envelope.correlationid if envelope else None)
    try:
        with tracer().start_as_current_span(
            topic, context=parent, kind=SpanKind.CONSUMER, links=links, attributes=attrs
        ) as consumer:
            if envelope is not None:
                ctx = consumer.get_span_context()
                _handled.put(envelope.id, ctx)
                _incidents.put(envelope.correlationid, ctx, keep_first=True)
            yield consumer
    finally:
        _correlation.reset(token)


@contextmanager
def _quietly_handling(envelope: Envelope | None, headers: Mapping[str, str] | None) -> Iterator[None]:
    carried = _carried(headers)
    if envelope is not None and carried is not None:
        _handled.put(envelope.id, carried)  # an outbox flush after the handler still passes it on
    token = _correlation.set(envelope.correlationid if envelope else None)
    try:
        with _passing_through(carried):
            yield
    finally:
        _correlation.reset(token)


@contextmanager
def serving(method: str, route: str, headers: Mapping[str, str]) -> Iterator[Span]:
    """A server span for one HTTP request (a webhook, an API call), joined to the caller's trace."""
    if not active():
        with _passing_through(_carried(headers)):
            yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(
        f"{method} {route}",
        context=extract(dict(headers)),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as current:
        yield current


def record_outcome(current: Span, verdict: str, reason: str = "") -> None:
    """Mark how the message was settled; anything but an ack is an error on the span."""
    current.set_attribute("warden.settlement", verdict)
    if verdict != "ack":
        current.set_status(Status(StatusCode.ERROR, reason[:256] or verdict))
        if reason:
            current.set_attribute("warden.settlement.reason", reason[:1024])


def trace_ids() -> dict[str, str]:
    """Hex ids of the current span, for structured log records."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
