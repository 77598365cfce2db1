"""The span pipeline behind `trace_export`: providers, the OTLP-JSON file exporter and its reader.

Imported only when tracing is switched on (or by tools reading trace files): the SDK and protobuf
cost start-up time every service would otherwise pay.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from warden_bus.trace_export import TracingSettings

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
