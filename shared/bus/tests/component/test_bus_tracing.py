"""Trace context through a real NATS server: headers carry it, consumers join it, one trace per incident."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from warden_bus import traced, tracing
from warden_bus.nats_bus import NatsBus
from warden_bus.runtime import JsonFormatter, ServiceRuntime
from warden_bus.trace_export import TracingSettings, configure_tracing
from warden_bus.trace_sdk import build_provider, read_trace_file
from warden_contracts.envelope import Envelope, follow_up
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_testkit.contracts import alert as sample_alert
from warden_testkit.contracts import incident_payload

ALERT = "sre.alert.received.v1"
INCIDENT = "sre.incident.changed.v1"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def alert(n: int) -> Envelope:
    return sample_alert(n, id_prefix=None)


def incident_of(cause: Envelope, incident_id: str) -> Envelope:
    env = follow_up(cause, INCIDENT, incident_payload(incident_id), source="warden/triage")
    return env.model_copy(update={"correlationid": incident_id})


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


async def test_every_hop_joins_the_first_publishers_trace(
    buses: dict[str, NatsBus], spans: InMemorySpanExporter
) -> None:
    triage, planner = buses["triage"], buses["planner"]
    planned: list[Envelope] = []

    async def on_alert(env: Envelope) -> None:
        await triage.publish(incident_of(env, "inc-1"))

    async def on_incident(env: Envelope) -> None:
        planned.append(env)

    triage.subscribe(ALERT, on_alert)
    planner.subscribe(INCIDENT, on_incident)
    for bus in buses.values():
        await bus.start()
    await buses["ingest"].publish(alert(1))
    await eventually(lambda: bool(planned) and len(named(spans, INCIDENT)) == 1, timeout=60)

    send_alert = named(spans, f"send {ALERT}")[0]
    handle_alert = named(spans, ALERT)[0]
    send_incident = named(spans, f"send {INCIDENT}")[0]
    handle_incident = named(spans, INCIDENT)[0]
    assert send_alert.parent is None and send_alert.kind is SpanKind.PRODUCER
    # The chain: producer -> consumer -> producer (inside the handler) -> consumer, one trace.
    assert handle_alert.parent is not None and handle_alert.parent.span_id == send_alert.context.span_id
    assert send_incident.parent is not None and send_incident.parent.span_id == handle_alert.context.span_id
    assert handle_incident.parent is not None and handle_incident.parent.span_id == send_incident.context.span_id
    assert {s.context.trace_id for s in (send_alert, handle_alert, send_incident, handle_incident)} == {
        send_alert.context.trace_id
    }
    assert handle_incident.kind is SpanKind.CONSUMER
    assert handle_incident.attributes is not None
    assert handle_incident.attributes["warden.correlationid"] == "inc-1"
    assert handle_incident.attributes["warden.settlement"] == "ack"


async def test_outbox_publish_after_the_handler_still_parents_on_the_cause(
    buses: dict[str, NatsBus], spans: InMemorySpanExporter
) -> None:
    triage, planner = buses["triage"], buses["planner"]
    handled: list[Envelope] = []
    seen: list[Envelope] = []

    async def on_alert(env: Envelope) -> None:
        handled.append(env)  # committed to an outbox; published later, outside this context

    async def on_incident(env: Envelope) -> None:
        seen.append(env)

    triage.subscribe(ALERT, on_alert)
    planner.subscribe(INCIDENT, on_incident)
    for bus in buses.values():
        await bus.start()
    await buses["ingest"].publish(alert(2))
    await eventually(lambda: bool(handled), timeout=60)
    await triage.publish(incident_of(handled[0], "inc-2"))
    await eventually(lambda: bool(seen) and len(named(spans, INCIDENT)) == 1, timeout=60)
    handle_alert = named(spans, ALERT)[0]
    send_incident = named(spans, f"send {INCIDENT}")[0]
    assert send_incident.parent is not None and send_incident.parent.span_id == handle_alert.context.span_id
    assert named(spans, INCIDENT)[0].context.trace_id == handle_alert.context.trace_id


async def test_a_message_without_context_joins_its_incidents_trace(
    broker: EmbeddedBroker, buses: dict[str, NatsBus], spans: InMemorySpanExporter
) -> None:
    planner = buses["planner"]
    seen: list[Envelope] = []

    async def on_incident(env: Envelope) -> None:
        seen.append(env)

    planner.subscribe(INCIDENT, on_incident)
    await buses["triage"].start()
    await planner.start()
    first = incident_of(alert(3), "inc-3")
    await buses["triage"].publish(first)
    await eventually(lambda: len(seen) == 1, timeout=60)
    # Published with no trace headers at all (an operator tool that does not trace).
    later = incident_of(alert(4), "inc-3")
    await broker.publish_raw(INCIDENT, later.to_bytes(), msg_id=later.id)
    await eventually(lambda: len(seen) == 2 and len(named(spans, INCIDENT)) == 2, timeout=60)
    first_span, later_span = named(spans, INCIDENT)
    assert later_span.context.trace_id == first_span.context.trace_id


async def test_poison_message_span_is_an_error(
    broker: EmbeddedBroker, buses: dict[str, NatsBus], spans: InMemorySpanExporter
) -> None:
    planner = buses["planner"]

    async def on_incident(env: Envelope) -> None:
        raise AssertionError("never called for a malformed message")

    planner.subscribe(INCIDENT, on_incident)
    await planner.start()
    await broker.publish_raw(INCIDENT, b"{not json", msg_id="bad-1")
    await eventually(lambda: len(named(spans, INCIDENT)) == 1, timeout=60)
    failed = named(spans, INCIDENT)[0]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["warden.settlement"] == "dead_letter"
    assert "malformed envelope" in str(failed.attributes["warden.settlement.reason"])


def test_span_helper_nests_and_names_attributes(spans: InMemorySpanExporter) -> None:
    with (
        tracing.span("policy.evaluate", warden__action_kind="restart_service", ignored=None),
        tracing.span("tool.call", warden__tool="metrics", rows=3),
    ):
        pass
    inner, outer = spans.get_finished_spans()
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert outer.attributes == {"warden.action_kind": "restart_service"}
    assert inner.attributes == {"warden.tool": "metrics", "rows": 3}


def test_logs_inside_a_handled_message_carry_correlation_and_trace(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("planner"))
    logger = logging.getLogger("warden.test.tracing")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        env = incident_of(alert(5), "inc-5")
        with tracing.handling(INCIDENT, env, {}) as current:
            logger.warning("deciding")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["correlationid"] == "inc-5"
    assert inside["trace_id"] == format(current.get_span_context().trace_id, "032x")
    assert "correlationid" not in outside and "trace_id" not in outside


def test_file_exporter_writes_otlp_json_with_hex_ids(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = build_provider("planner", TracingSettings(trace_file=path))
    tracing.use_provider(provider)
    try:
        with tracing.span("outer"), tracing.span("inner", warden__tool="logs"):
            pass
    finally:
        tracing.use_provider(None)
        provider.shutdown()
    read = {s["name"]: s for s in read_trace_file(path)}
    assert set(read) == {"outer", "inner"}
    assert read["inner"]["parentSpanId"] == read["outer"]["spanId"]
    assert len(read["inner"]["traceId"]) == 32 and int(read["inner"]["traceId"], 16)
    assert read["inner"]["service"] == "warden-planner"
    assert read["inner"]["attributes"] == [{"key": "warden.tool", "value": {"stringValue": "logs"}}]


async def test_http_request_span_parents_what_the_handler_publishes(
    buses: dict[str, NatsBus], spans: InMemorySpanExporter
) -> None:
    triage = buses["triage"]

    async def webhook(request: web.Request) -> web.Response:
        await triage.publish(alert(int(request.match_info["n"])))
        return web.json_response({}, status=202)

    runtime = ServiceRuntime("triage", triage, routes=[web.post("/webhooks/{n}", webhook)])
    await runtime.start()
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{runtime.bound_port}"
            headers = {"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"}
            async with http.post(f"{url}/webhooks/7", headers=headers) as resp:
                assert resp.status == 202
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200
    finally:
        await runtime.stop()
    [server] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "POST /webhooks/{n}"  # the route, not the path: bounded cardinality
    assert format(server.context.trace_id, "032x") == caller_trace
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 202
    send = named(spans, f"send {ALERT}")[0]
    assert send.parent is not None and send.parent.span_id == server.context.span_id


class _Adapter:
    @traced.span_around(
        "llm.chat",
        call=lambda self, model, prompt: {"gen_ai.request.model": model},
        result=lambda turn: {"gen_ai.usage.input_tokens": turn["in"], "gen_ai.usage.output_tokens": turn["out"]},
    )
    async def complete(self, model: str, prompt: str) -> dict[str, int]:
        return {"in": len(prompt), "out": 3}

    @traced.span_around("policy.evaluate", call=lambda self, kind: {"warden.action.kind": kind})
    def evaluate(self, kind: str) -> bool:
        if kind == "explode":
            raise ValueError("bad question")
        return True


async def test_traced_decorator_records_arguments_results_and_errors(spans: InMemorySpanExporter) -> None:
    adapter = _Adapter()
    assert await adapter.complete("gpt", "secret prompt text") == {"in": 18, "out": 3}
    assert adapter.evaluate("restart_service") is True
    with pytest.raises(ValueError):
        adapter.evaluate("explode")
    llm, ok, failed = spans.get_finished_spans()
    # Token counts and the model, never the prompt.
    assert llm.attributes == {
        "gen_ai.request.model": "gpt",
        "gen_ai.usage.input_tokens": 18,
        "gen_ai.usage.output_tokens": 3,
    }
    assert ok.attributes == {"warden.action.kind": "restart_service"} and ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.events and failed.events[0].name == "exception"


class _Turn:
    prompt_tokens, completion_tokens, tool_calls = 120, 30, ["call"]


class _Grant:
    grant_id, expires_at, material = "g-1", "2026-11-21T12:00:00Z", {"secret": "never recorded"}


class _Adapters:
    name = "gpt-4.1-mini"

    @traced.tool_call("get_logs")
    async def get_logs(self, name: str, limit: int) -> list[str]:
        return ["secret log line"]

    @traced.llm_call("openai")
    async def complete(self, messages: list[dict[str, str]], tools: list[object]) -> _Turn:
        return _Turn()

    @traced.action_call("act")
    async def act(self, kind: str, target: str, params: dict[str, object], grant: _Grant) -> None:
        return None

    @traced.elevation_call("activate")
    async def elevate(self, justification: str, ttl_s: int) -> _Grant:
        return _Grant()

    @traced.policy_evaluation()
    def evaluate(self, questions: list[str]) -> list[object]:
        return [type("V", (), {"allowed": q == "ok", "errors": ()})() for q in questions]


async def test_adapter_decorators_record_names_counts_and_ids_only(spans: InMemorySpanExporter) -> None:
    a = _Adapters()
    await a.get_logs("checkout-api", 20)
    await a.complete([{"role": "user", "content": "prompt text"}], [])
    await a.act("restart_service", "checkout-api", {}, _Grant())
    await a.elevate("incident inc-1", 60)
    a.evaluate(["ok", "no", "ok"])
    got = {s.name: dict(s.attributes or {}) for s in spans.get_finished_spans()}
    assert got["tool.get_logs"] == {"warden.tool": "get_logs", "warden.target": "checkout-api"}
    assert got["llm.chat"] == {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.request.message_count": 1,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.response.tool_calls": 1,
    }
    assert got["action.act"] == {"warden.action.kind": "restart_service", "warden.target": "checkout-api"}
    assert got["elevation.activate"] == {
        "warden.grant_id": "g-1",
        "warden.elevation.expires_at": "2026-11-21T12:00:00Z",
    }
    assert got["policy.evaluate"] == {
        "warden.policy.questions": 3,
        "warden.policy.allowed": 2,
        "warden.policy.errors": 0,
    }
    recorded = json.dumps(got)
    assert "secret" not in recorded and "prompt text" not in recorded


def test_azure_monitor_without_its_package_refuses_clearly() -> None:
    key = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    settings = TracingSettings(azure_monitor_connection_string=key)
    with pytest.raises(RuntimeError, match="azure-monitor-opentelemetry-exporter is not installed"):
        build_provider("policy", settings)


def test_tracing_is_off_unless_an_exporter_is_configured() -> None:
    off = TracingSettings(otlp_endpoint=None, trace_file=None, azure_monitor_connection_string=None)
    assert not off.enabled
    assert configure_tracing("planner", off) is None
