"""Composition root of the sandbox: settings, state file, world, monitor, HTTP API, ticking loop.

This is the only module that reads configuration (environment variables prefixed WARDEN_).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

from aiohttp import web
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from warden_contracts.catalog import default_catalog
from warden_security.keys import load_public_key
from warden_security.secret_files import FileBackedSettings
from warden_security.tokens import ELEVATION_ISSUER, SANDBOX_AUDIENCE, TokenVerifier

from warden_sandbox.adapters.estate_file import load_estate
from warden_sandbox.adapters.http_api import ApiDeps, SandboxApi
from warden_sandbox.adapters.prometheus_exposition import exposition
from warden_sandbox.adapters.state_file import StateFile
from warden_sandbox.adapters.webhook import AlertDispatcher, WebhookSender
from warden_sandbox.domain.monitor import Monitor
from warden_sandbox.domain.service import ServiceState
from warden_sandbox.domain.traffic import Traffic
from warden_sandbox.domain.world import World
from warden_sandbox.logs import configure_logging

log = logging.getLogger("warden_sandbox")
STATE_FORMAT = 1


class Settings(FileBackedSettings):  # any setting may come from WARDEN_X_FILE
    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore")

    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path(".warden")
    sandbox_admin_secret: SecretStr | None = None
    sandbox_token_pubkey: Path | None = None
    alert_webhook_url: str | None = None
    alert_webhook_token: SecretStr | None = None
    sandbox_tick_s: float = Field(default=0.5, gt=0)
    sandbox_estate: Path | None = None
    sandbox_seed: int = 7
    log_level: str = "INFO"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SandboxApp:
    """The running sandbox. `start()`/`stop()` for embedding, `run()` for a process."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.state_file = StateFile.under(settings.data_dir)
        # An empty URL is "no webhook": a stack whose alerts come from a real Prometheus instead.
        self.monitor = Monitor(deliver=bool(settings.alert_webhook_url))
        token = settings.alert_webhook_token.get_secret_value() if settings.alert_webhook_token else None
        self._sender = WebhookSender(settings.alert_webhook_url, token) if settings.alert_webhook_url else None
        self.traffic = Traffic()
        self._last_tick = time.monotonic()
        self._dispatcher = AlertDispatcher(self.monitor, self._sender.send, self.persist) if self._sender else None
        self._world: World | None = None
        self._save_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError("the sandbox is not started")
        return self._world

    def _load_world(self) -> World:
        catalog = default_catalog()
        saved = self.state_file.load()
        if saved is not None:
            if saved.get("format") != STATE_FORMAT:
                raise RuntimeError(f"{self.state_file.path}: unsupported state format {saved.get('format')!r}")
            self.monitor.restore(saved["monitor"])
            log.info("sandbox state restored", extra={"path": str(self.state_file.path)})
            return World.from_dict(saved["world"], catalog)
        services = load_estate(self.settings.sandbox_estate, self.clock())
        log.info("sandbox estate loaded", extra={"services": [s.name for s in services]})
        return World(services, rng=Random(self.settings.sandbox_seed), catalog=catalog)

    def _verifier(self) -> TokenVerifier | None:
        path = self.settings.sandbox_token_pubkey
        if path is None:
            log.warning("no WARDEN_SANDBOX_TOKEN_PUBKEY: every action write will be refused")
            return None
        return TokenVerifier(key=load_public_key(path), issuer=ELEVATION_ISSUER, audience=SANDBOX_AUDIENCE)

    async def start(self) -> None:
        self._stopping.clear()
        self._world = self._load_world()
        await self.persist()
        secret = self.settings.sandbox_admin_secret
        api = SandboxApi(
            ApiDeps(
                world=self._world,
                clock=self.clock,
                verifier=self._verifier(),
                admin_secret=secret.get_secret_value() if secret else None,
                commit=self.persist,
                reset=self.reset,
                metrics=lambda service: exposition(self.world.views, self.traffic, self.clock, service),
            )
        )
        self._runner = web.AppRunner(api.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.sandbox_host, self.settings.sandbox_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="sandbox-ticks"))
        if self._dispatcher is not None:
            self._tasks.append(asyncio.create_task(self._dispatcher.run(), name="sandbox-alerts"))
            # Notifications left in the outbox by a previous run go out without waiting a tick.
            self._dispatcher.wake()
        log.info("sandbox listening", extra={"host": self.settings.sandbox_host, "port": self.port})

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._world is not None:
            await self.persist()
        if self._sender is not None:
            await self._sender.close()
        log.info("sandbox stopped")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await self.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._stopping.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()

    async def tick(self) -> None:
        """One step of simulated time: evolve, evaluate alerts, persist, hand alerts to delivery."""
        now = self.clock()
        self.world.tick(now)
        # Traffic counts real seconds: Prometheus takes rates over wall-clock time.
        elapsed, self._last_tick = time.monotonic() - self._last_tick, time.monotonic()
        self.traffic.advance(self.world.views(), elapsed)
        for transition in self.monitor.evaluate(self.world.views(), now):
            log.info(
                "alert transition",
                extra={
                    "target": transition.service,
                    "rule": transition.rule,
                    "condition": transition.condition,
                    "alert_id": transition.alert_id,
                },
            )
        await self.persist()
        if self._dispatcher is not None:
            self._dispatcher.wake()

    async def reset(self, services: list[ServiceState] | None, seed: int) -> int:
        """A fresh estate for the next scenario; open alerts resolve first so incidents close."""
        now = self.clock()
        resolved = self.monitor.resolve_all(self.world.views(), now)
        fresh = services if services is not None else load_estate(self.settings.sandbox_estate, now)
        self.world.reset(fresh, seed=seed)
        await self.persist()
        if self._dispatcher is not None:
            self._dispatcher.wake()
        return len(resolved)

    async def persist(self) -> None:
        async with self._save_lock:
            snapshot = {"format": STATE_FORMAT, "world": self.world.to_dict(), "monitor": self.monitor.to_dict()}
            # fsync is slow on busy disks; keep it off the event loop so reads stay responsive.
            write = asyncio.ensure_future(asyncio.to_thread(self.state_file.save, snapshot))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # Finish the started write while holding the lock, so saves never land out of order.
                await write
                raise

    async def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.sandbox_tick_s)
                return
            try:
                await self.tick()
            except Exception:
                log.exception("sandbox tick failed")


@dataclass(frozen=True)
class SandboxPorts:
    """Components `create_app` builds unless given one (tests); None builds the production one."""

    # The time the simulated estate ticks by and stamps its logs and alerts with (aware datetimes).
    clock: Callable[[], datetime] | None = None


def create_app(
    settings: Settings | None = None, ports: SandboxPorts | None = None, **settings_overrides: Any
) -> SandboxApp:
    """Build the sandbox; `settings_overrides` replace Settings fields (tests pass data_dir,
    sandbox_port, ...), any other name is a TypeError; `ports` replace components."""
    # Not warden_bus's shared check: the sandbox depends on no bus package.
    unknown = sorted(set(settings_overrides) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"create_app got unknown overrides: {unknown}")
    ports = ports or SandboxPorts()
    if settings is None:
        settings = Settings(**settings_overrides)
    elif settings_overrides:
        settings = Settings.model_validate({**settings.model_dump(), **settings_overrides})
    return SandboxApp(settings, ports.clock or _utcnow)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(create_app(settings).run())
