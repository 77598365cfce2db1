"""Composition root: the only place that reads settings and builds adapters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr
from warden_bus.port import Bus
from warden_bus.runtime import ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts.catalog import default_catalog

from warden_planner.adapters.composite_observer import CompositeObserver
from warden_planner.adapters.prometheus_observer import PrometheusMetrics
from warden_planner.adapters.sandbox_estate import SandboxEstate
from warden_planner.adapters.sandbox_observer import SandboxObserver
from warden_planner.adapters.sql_store import SqlStore
from warden_planner.domain.coordinator import PlanningService
from warden_planner.domain.llm.react import Budget, LlmPlanner
from warden_planner.domain.observer import Clock, ObserverTools
from warden_planner.domain.planner import Planner, RunbookPlanner
from warden_planner.domain.runbooks import RunbookConfig
from warden_planner.handlers import Outbox, register
from warden_planner.scheduled_tasks import register_scheduled_tasks

if TYPE_CHECKING:
    from warden_planner.adapters.openai_chat import OpenAIChatModel

# The OpenAI and Azure Monitor SDKs are imported by the branch that uses them: on the default
# (runbook planner, sandbox observer) neither loads: its import took 2.0 s with them, 1.1 s without.

SERVICE = "planner"


class Settings(ServiceSettings):
    sandbox_url: str = "http://127.0.0.1:8700"
    sandbox_timeout_s: float = 5.0
    recent_deploy_window_min: int = 60
    memory_deploy_window_min: int = 30
    memory_threshold_pct: float = 80.0
    log_lines: int = 20
    max_attempts: int = 2
    # An incident found recovered closes on the monitor's Resolved; past this window a human is told.
    recovery_window_s: float = Field(default=900.0, gt=0)
    recovery_sweep_interval_s: float = Field(default=30.0, gt=0, le=600)
    # "auto": the LLM planner when an endpoint is configured, else the deterministic runbooks.
    planner_kind: Literal["auto", "runbook", "llm"] = "auto"
    llm_provider: Literal["openai", "azure"] = "openai"
    llm_base_url: str | None = None  # any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    llm_api_key: SecretStr | None = None  # WARDEN_LLM_API_KEY; Azure uses managed identity instead
    llm_model: str = "gpt-4.1-mini"  # the Azure deployment name with llm_provider=azure
    llm_azure_endpoint: str | None = None
    llm_api_version: str = "2024-10-21"
    llm_managed_identity_client_id: str | None = None
    llm_max_turns: int = 8
    llm_max_tokens: int = 40_000
    llm_max_seconds: float = 60.0
    llm_max_invalid_answers: int = 2
    llm_request_timeout_s: float = 30.0
    # Where the Observer reads: the sandbox (embedded) or Azure Monitor Logs; metrics optionally
    # from Prometheus on top of either.
    observer_backend: Literal["sandbox", "azure_monitor"] = "sandbox"
    azure_monitor_workspace_id: str | None = None
    azure_monitor_endpoint: str | None = None
    managed_identity_client_id: str | None = None
    prometheus_url: str | None = None
    # postgresql://...?schema=name for scale-out (several replicas); default: SQLite under <data_dir>/state/.
    planner_store_url: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PlannerPorts:
    """Collaborators `create_app` builds unless given one (tests, other deployments); None builds
    the production one."""

    # The broker: from `bus_backend` (NATS or Service Bus).
    bus: Bus | None = None
    # Where diagnostics read logs and metrics: the sandbox or Azure Monitor, Prometheus on top.
    observer: ObserverTools | None = None
    # The planner itself; given one, no LLM planner is built whatever the settings say.
    planner: Planner | None = None
    # The time plans, recovery windows and scheduled tasks are measured by (aware datetimes).
    clock: Clock | None = None


def create_app(
    settings: Settings | None = None, ports: PlannerPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the service. `settings_overrides` set Settings fields (any other name is a
    TypeError); `ports` replace collaborators."""
    reject_unknown_settings(Settings, settings_overrides)
    ports = ports or PlannerPorts()
    if settings is None:
        settings = Settings(**settings_overrides)
    elif settings_overrides:
        settings = settings.model_copy(update=settings_overrides)
    clock: Clock = ports.clock or utc_now
    catalog = default_catalog()
    bus: Bus = ports.bus or bus_from_settings(SERVICE, settings)
    store = SqlStore(settings.data_dir / "state" / "planner.db", settings.planner_store_url)
    sandbox = SandboxObserver(settings.sandbox_url, timeout_s=settings.sandbox_timeout_s)
    closers: list[Callable[[], Awaitable[None]]] = [sandbox.close]
    observer: ObserverTools = ports.observer or _observer(settings, sandbox, closers)
    config = RunbookConfig(
        memory_threshold_pct=settings.memory_threshold_pct,
        memory_deploy_window_min=settings.memory_deploy_window_min,
        recent_deploy_window_min=settings.recent_deploy_window_min,
        log_lines=settings.log_lines,
    )
    planner: Planner = ports.planner or RunbookPlanner(observer, catalog, clock, config)
    chat = None if ports.planner is not None else _chat_model(settings)
    if chat is not None:
        budget = Budget(
            max_turns=settings.llm_max_turns,
            max_tokens=settings.llm_max_tokens,
            max_seconds=settings.llm_max_seconds,
            max_invalid_answers=settings.llm_max_invalid_answers,
        )
        planner = LlmPlanner(chat, observer, catalog, clock, time.monotonic, budget)
    service = PlanningService(
        planner,
        store,
        catalog,
        clock,
        max_attempts=settings.max_attempts,
        recovery_window=timedelta(seconds=settings.recovery_window_s),
    )
    runtime = ServiceRuntime(name=SERVICE, bus=bus, http_host=settings.http_host, http_port=settings.http_port)
    outbox = Outbox(store, bus, runtime.counters)
    register(bus, service, outbox, runtime.counters)
    estate = SandboxEstate(settings.sandbox_url, timeout_s=settings.sandbox_timeout_s)
    register_scheduled_tasks(runtime, catalog, clock, estate)
    runtime.on_start.append(store.open)
    runtime.on_stop += [*closers, store.close, *([chat.close] if chat is not None else [])]
    # Messages committed before a crash but never acknowledged by the broker go out on start.
    runtime.background.append(outbox.flush)
    runtime.background.append(_recovery_sweep(service, outbox, settings.recovery_sweep_interval_s))
    return runtime


def _recovery_sweep(service: PlanningService, outbox: Outbox, interval_s: float) -> Callable[[], Awaitable[None]]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            await service.sweep_recovered()  # the runtime restarts a loop that raised
            await outbox.flush()

    return loop


def _observer(
    settings: Settings, sandbox: SandboxObserver, closers: list[Callable[[], Awaitable[None]]]
) -> ObserverTools:
    base: ObserverTools = sandbox
    if settings.observer_backend == "azure_monitor":
        if not settings.azure_monitor_workspace_id:
            raise ValueError("observer_backend=azure_monitor needs azure_monitor_workspace_id")
        from azure.identity.aio import ManagedIdentityCredential

        from warden_planner.adapters.azure_monitor_observer import AzureMonitorObserver

        monitor = AzureMonitorObserver(
            ManagedIdentityCredential(client_id=settings.managed_identity_client_id),
            settings.azure_monitor_workspace_id,
            endpoint=settings.azure_monitor_endpoint,
        )
        closers.append(monitor.close)
        base = monitor
    if settings.prometheus_url:
        metrics = PrometheusMetrics(settings.prometheus_url, timeout_s=settings.sandbox_timeout_s)
        closers.append(metrics.close)
        return CompositeObserver(base, metrics)
    return base


def _chat_model(settings: Settings) -> OpenAIChatModel | None:
    kind = settings.planner_kind
    configured = settings.llm_base_url if settings.llm_provider == "openai" else settings.llm_azure_endpoint
    if kind == "runbook" or (kind == "auto" and not configured):
        return None
    if not configured:
        raise ValueError(f"planner_kind=llm needs an endpoint for llm_provider={settings.llm_provider}")
    from warden_planner.adapters.openai_chat import (
        OpenAIChatModel,
        azure_openai,
        managed_identity_token_provider,
        openai_compatible,
    )

    timeout = settings.llm_request_timeout_s
    if settings.llm_provider == "azure":
        provider = managed_identity_token_provider(
            settings.llm_managed_identity_client_id or settings.managed_identity_client_id
        )
        client = azure_openai(configured, settings.llm_api_version, provider, timeout_s=timeout)
    else:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        client = openai_compatible(configured, key, timeout_s=timeout)
    return OpenAIChatModel(client, settings.llm_model)


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
