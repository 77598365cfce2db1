"""Composition root of the triage service: settings, adapters, handlers, HTTP routes; the webhook
intake and the alert consumer together (`create_app`) or each in its own process (`main`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from warden_bus.nats_bus import NatsBus
from warden_bus.port import Bus, SubscriptionOptions
from warden_bus.runtime import Background, Counters, ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts.envelope import MAX_MESSAGE_BYTES
from warden_persistence import backend_of

from warden_triage.adapters.backlog import Backlog
from warden_triage.adapters.catalog_file import load_catalog
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.consumer_process import ConsumerProcess, Reporter, die_with_parent
from warden_triage.adapters.sql_store import SqlIncidentStore
from warden_triage.adapters.webhook import ALERT_TOPIC, WebhookGateway
from warden_triage.adapters.webhook_auth import DEFAULT_TOLERANCE_S, Authenticator, BearerAuth, HmacAuth
from warden_triage.adapters.webhook_body import cloudevent_body
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.correlation import Correlator
from warden_triage.domain.incidents import IncidentStore, IncidentTracker
from warden_triage.domain.sources import SourceRegistry
from warden_triage.handlers import AlertReceivedHandler, HeldAlertSweep

SERVICE = "triage"


class Settings(ServiceSettings):
    nats_creds: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=0, le=65535)
    webhook_token: SecretStr
    max_payload_bytes: int = Field(default=256 * 1024, gt=0, le=MAX_MESSAGE_BYTES)
    classification: Path | None = None
    service_catalog: Path | None = None
    # route -> shared secret: that route then requires an HMAC signature instead of the bearer token.
    webhook_hmac_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_hmac_tolerance_s: int = Field(default=DEFAULT_TOLERANCE_S, ge=5, le=3600)
    webhook_max_inflight: int = Field(default=256, ge=1)
    # Alerts accepted but not yet handled before the webhook answers 429: bounds queueing latency.
    webhook_max_backlog: int = Field(default=5000, ge=1)
    # How long a call that finds the backlog full waits for the consumer to make room before it
    # is answered 429: refused at once, a storm's senders slept a second each time while the
    # consumer ran dry (8.9k alerts/s without the limit, 5.4k with it, `warden bench triage`).
    webhook_backlog_hold_s: float = Field(default=2.0, ge=0, le=30)
    # How long a webhook call waits for the broker's acknowledgement before answering 503, while
    # connected (a broker that is down is answered at once). Under a storm on a busy machine a
    # group's acks took over 1 s: a 1 s deadline turned that into 503s and re-sent groups.
    webhook_publish_deadline_s: float = Field(default=5.0, gt=0, le=30)
    # Alerts pulled, applied in one store transaction (one fsync) and acked together. 500 over
    # 200: 4-7 % more alerts/s in a storm, 3-5 % less CPU per alert (fewer commits and dirty
    # pages per alert); a pull returns what is there, so a quiet stream still gets small batches.
    consume_batch_size: int = Field(default=500, ge=1, le=1000)
    # How often held alert groups (`open_after`) are checked for a wait that is over: the lag
    # with which time alone opens their incident.
    held_sweep_interval_s: float = Field(default=10.0, gt=0, le=300)
    # postgresql://user@host/db?schema=name for several replicas; default: SQLite under <data_dir>/state/.
    triage_store_url: str | None = None
    # `python -m warden_triage`: the webhook intake and the alert consumer each in a process of
    # their own (a core each, see adapters/consumer_process.py); false runs both on one loop.
    webhook_process: bool = True

    @field_validator("webhook_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("webhook_token must not be empty")
        return value

    @field_validator("triage_store_url")
    @classmethod
    def _store_url_known(cls, value: str | None) -> str | None:
        backend_of(value)  # a URL that is not postgresql:// stops the start-up
        return value

    @field_validator("webhook_hmac_secrets")
    @classmethod
    def _secrets_not_blank(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        blank = sorted(route for route, secret in value.items() if len(secret.get_secret_value().strip()) < 16)
        if blank:
            raise ValueError(f"HMAC secrets must be at least 16 characters: {blank}")
        return value

    @property
    def database_path(self) -> Path:
        return self.data_dir / "state" / "triage.db"


@dataclass(frozen=True)
class TriagePorts:
    """Components `create_app` builds unless given one (tests, other deployments); None builds
    the production one."""

    # The broker: NATS from `nats_url`/`nats_creds`, or Service Bus when `bus_backend` says so.
    bus: Bus | None = None
    # The tracker's time (an aware datetime): held alert groups open when their wait is over by it.
    clock: Callable[[], datetime] | None = None


def create_app(
    settings: Settings | None = None, ports: TriagePorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the service, webhook intake and alert consumer on one loop. `settings_overrides`
    set Settings fields (any other name is a TypeError); `ports` replace components."""
    settings = _settings(settings, settings_overrides)
    ports = ports or TriagePorts()
    sources = builtin_registry()
    bus = ports.bus or _bus(settings)
    counters = Counters()
    backlog = Backlog(limit=settings.webhook_max_backlog)
    store, sweep = _consumer(settings, ports, sources, bus, counters, on_handled=backlog.handled)
    return ServiceRuntime(
        name=SERVICE,
        bus=bus,
        http_host=settings.http_host,
        http_port=settings.http_port,
        routes=_gateway(settings, sources, bus, counters, backlog).routes(),
        counters=counters,
        on_start=[store.open],
        on_stop=[store.close],
        background=[_every(settings.held_sweep_interval_s, sweep)],
    )


def create_intake(settings: Settings | None = None) -> ServiceRuntime:
    """The webhook intake, which runs the alert consumer as its child process (`create_consumer`)."""
    settings = _settings(settings, {})
    _check_consumer_files(settings)  # a bad rule file stops the start-up here, not in a restart loop
    sources = builtin_registry()
    bus = _bus(settings)
    counters = Counters()
    backlog = Backlog(limit=settings.webhook_max_backlog)
    consumer_counters = Counters()
    consumer_counters.service = SERVICE
    consumer = ConsumerProcess(backlog, consumer_counters)
    runtime = ServiceRuntime(
        name=SERVICE,
        bus=bus,
        http_host=settings.http_host,
        http_port=settings.http_port,
        routes=_gateway(settings, sources, bus, counters, backlog).routes(),
        counters=counters,
        background=[consumer.run],
        health_checks=[lambda: consumer.ready],
    )
    runtime.metrics.add([consumer.counters])
    return runtime


def create_consumer(settings: Settings, reporter: Reporter) -> ServiceRuntime:
    """The alert consumer and held-alert sweep without the webhooks, reporting to the intake."""
    sources = builtin_registry()
    bus = _bus(settings)
    counters = Counters()
    ports = TriagePorts()
    store, sweep = _consumer(settings, ports, sources, bus, counters, on_handled=reporter.handled)
    reporter.watch(counters)
    return ServiceRuntime(
        name=SERVICE,
        bus=bus,
        http_host="127.0.0.1",
        http_port=0,  # its own /healthz and /metrics, on a loopback port nobody is told about
        counters=counters,
        on_start=[store.open],
        on_stop=[store.close],
        background=[_every(settings.held_sweep_interval_s, sweep), reporter.loop()],
    )


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    reject_unknown_settings(Settings, overrides)
    if settings is None:
        return Settings(**overrides)
    if overrides:
        return Settings(**(settings.model_dump() | overrides))
    return settings


def _bus(settings: Settings) -> Bus:
    return bus_from_settings(SERVICE, settings) if settings.bus_backend == "servicebus" else _nats_bus(settings)


def _check_consumer_files(settings: Settings) -> None:
    load_classifier(settings.classification)
    load_catalog(settings.service_catalog)


def _consumer(
    settings: Settings,
    ports: TriagePorts,
    sources: SourceRegistry,
    bus: Bus,
    counters: Counters,
    on_handled: Callable[[], None],
) -> tuple[IncidentStore, HeldAlertSweep]:
    classifier = load_classifier(settings.classification)  # a bad rule file stops the start-up here
    catalog = load_catalog(settings.service_catalog)  # and so does a bad catalog
    store = (
        _cosmos_store(settings)
        if settings.state_backend == "cosmos"
        else SqlIncidentStore(settings.triage_store_url, settings.database_path)
    )
    tracker = IncidentTracker(
        store,
        classifier,
        sources,
        correlator=Correlator(catalog, classifier, sources),
        on_fate=lambda fate: counters.inc("alerts", fate=fate or "unchanged"),
        **({"clock": ports.clock} if ports.clock is not None else {}),
    )
    bus.subscribe(
        ALERT_TOPIC,
        AlertReceivedHandler(tracker, bus, counters, on_handled=on_handled),
        SubscriptionOptions(batch_size=settings.consume_batch_size),
    )
    return store, HeldAlertSweep(tracker, bus, counters)


def _cosmos_store(settings: Settings) -> IncidentStore:
    # Imported only when asked for: the Cosmos SDK was a fifth of every triage process's start-up.
    from warden_triage.adapters.cosmos_store import CosmosIncidentStore

    return CosmosIncidentStore.from_endpoint(settings.cosmos_endpoint, settings.managed_identity_client_id)


def _gateway(
    settings: Settings, sources: SourceRegistry, bus: Bus, counters: Counters, backlog: Backlog
) -> WebhookGateway:
    return WebhookGateway(
        registry=sources,
        publisher=bus,
        authenticators=_authenticators(settings, list(sources.routes())),
        max_payload_bytes=settings.max_payload_bytes,
        counters=counters,
        max_inflight=settings.webhook_max_inflight,
        decoders={"cloudevents": cloudevent_body},
        backlog=backlog,
        bus_ready=lambda: bus.healthy,
        publish_deadline_s=settings.webhook_publish_deadline_s,
        backlog_hold_s=settings.webhook_backlog_hold_s,
    )


def _every(interval_s: float, sweep: HeldAlertSweep) -> Background:
    async def loop() -> None:
        while True:
            await sweep()  # the runtime restarts a loop that raised (the store was unreachable)
            await asyncio.sleep(interval_s)

    return loop


def _authenticators(settings: Settings, routes: list[str]) -> dict[str, Authenticator]:
    unknown = sorted(set(settings.webhook_hmac_secrets) - set(routes))
    if unknown:
        raise ValueError(f"HMAC secrets for unknown webhook routes {unknown}; routes: {routes}")
    bearer = BearerAuth(settings.webhook_token.get_secret_value())
    out: dict[str, Authenticator] = {}
    for route in routes:
        secret = settings.webhook_hmac_secrets.get(route)
        out[route] = (
            HmacAuth(secret.get_secret_value(), tolerance_s=settings.webhook_hmac_tolerance_s) if secret else bearer
        )
    return out


def _nats_bus(settings: Settings) -> NatsBus:
    if settings.nats_creds is None:
        raise ValueError("WARDEN_NATS_CREDS is required: the path of the triage identity's .creds file")
    return NatsBus(SERVICE, settings.nats_url, settings.nats_creds)


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    runtime = create_intake(settings) if settings.webhook_process else create_app(settings)
    asyncio.run(runtime.run())


def consumer_main(argv: list[str] | None = None) -> None:
    """`python -m warden_triage.consumer --report-fd N --parent-pid P`, started by the intake."""
    parser = argparse.ArgumentParser(prog="warden_triage.consumer")
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    reporter = Reporter(args.report_fd, on_parent_gone=lambda: os.kill(os.getpid(), signal.SIGTERM))
    asyncio.run(create_consumer(settings, reporter).run())
