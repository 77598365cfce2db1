"""Where spans go, chosen by settings: OTLP/HTTP, an OTLP-JSON lines file, Azure Monitor.

Nothing is exported unless configured; context still propagates through the headers, so one
service with export switched on still sees whole traces.

- `WARDEN_OTLP_ENDPOINT`: an OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added).
- `WARDEN_TRACE_FILE`: append every span as OTLP-JSON (one `ExportTraceServiceRequest` per line, ids
  in hex as the OTLP/JSON encoding requires); several processes may share the file.
- `WARDEN_AZURE_MONITOR_CONNECTION_STRING`: Application Insights, through the optional
  `azure-monitor-opentelemetry-exporter` package (not installed by default: add it to the image).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from pydantic_settings import BaseSettings, SettingsConfigDict

from warden_bus import tracing

log = logging.getLogger("warden.tracing")


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore")

    otlp_endpoint: str | None = None
    trace_file: Path | None = None
    azure_monitor_connection_string: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.otlp_endpoint or self.trace_file or self.azure_monitor_connection_string)


_configured: TracerProvider | None = None
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(node: Any) -> Any:
    # Protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants trace and span ids in hex.
    if isinstance(node, dict):
        return {k: base64.b64decode(v).hex() if k in _ID_KEYS and v else _hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    return dict(_hex_ids(MessageToDict(encode_spans(spans))))


class OtlpJsonFileExporter(SpanExporter):
    """One OTLP-JSON request per line; a single O_APPEND write per batch keeps lines whole across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = (json.dumps(otlp_json(spans), separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def read_trace_file(path: Path) -> list[dict[str, Any]]:
    """Flatten an OTLP-JSON lines file into spans, each with its `service.name` under `service`."""
    spans: list[dict[str, Any]] = []
    if not path.exists():
        return spans
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        for resource_spans in json.loads(line).get("resourceSpans", []):
            attrs = resource_spans.get("resource", {}).get("attributes", [])
            service = next((a["value"].get("stringValue") for a in attrs if a["key"] == "service.name"), None)
            for scope in resource_spans.get("scopeSpans", []):
                spans += [{**s, "service": service} for s in scope.get("spans", [])]
    return spans


def _azure_monitor_exporter(connection_string: str) -> SpanExporter:
    try:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
    except ImportError as err:
        raise RuntimeError(
            "WARDEN_AZURE_MONITOR_CONNECTION_STRING is set but azure-monitor-opentelemetry-exporter is not "
            "installed; add it to the service image or unset the variable"
        ) from err
    exporter: SpanExporter = AzureMonitorTraceExporter(connection_string=connection_string)
    return exporter


def build_provider(service: str, settings: TracingSettings) -> TracerProvider:
    resource = Resource.create({"service.name": f"warden-{service}", "warden.service": service})
    provider = TracerProvider(resource=resource)
    if settings.trace_file:
        # Synchronous: a file append is cheap and nothing is lost when the process is stopped.
        provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(settings.trace_file)))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if settings.azure_monitor_connection_string:
        provider.add_span_processor(
            BatchSpanProcessor(_azure_monitor_exporter(settings.azure_monitor_connection_string))
        )
    return provider


def configure_tracing(service: str, settings: TracingSettings | None = None) -> TracerProvider | None:
    """Called once per process by the composition root (through `configure_logging`)."""
    settings = settings if settings is not None else TracingSettings()
    if not settings.enabled:
        return None
    global _configured
    provider = build_provider(service, settings)
    trace.set_tracer_provider(provider)
    _configured = provider
    tracing.use_provider(provider)
    log.info(
        "tracing on",
        extra={"otlp_endpoint": settings.otlp_endpoint, "trace_file": str(settings.trace_file or "") or None},
    )
    return provider


def shutdown_tracing() -> None:
    """Flush and close what `configure_tracing` set up (a no-op when tracing is off)."""
    global _configured
    if _configured is not None:
        _configured.shutdown()
        _configured = None
