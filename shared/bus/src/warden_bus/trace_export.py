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

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace
from pydantic_settings import BaseSettings, SettingsConfigDict

from warden_bus import tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

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


def configure_tracing(service: str, settings: TracingSettings | None = None) -> TracerProvider | None:
    """Called once per process by the composition root (through `configure_logging`)."""
    settings = settings if settings is not None else TracingSettings()
    if not settings.enabled:
        return None
    from warden_bus.trace_sdk import build_provider

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
