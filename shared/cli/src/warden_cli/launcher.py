"""`warden up`: the whole stack on one machine — embedded NATS, the sandbox, five services.

Each service runs as its own process under its own broker identity; the launcher provisions
streams and consumers as admin (once, before anything else runs), waits for every health check
and shuts everything down on Ctrl-C / SIGTERM. Supervision (the data-folder lock, the watch on
NATS and every child, bounded stops) lives in `supervisor.py`: a failed start-up stops what it
started, and the death of any process stops the rest and fails the launcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from warden_bus.embedded_server import EmbeddedNats, free_port
from warden_bus.provision import provision
from warden_console.api import ensure_embedded_users

from warden_cli import child_env, supervisor
from warden_cli.key_folders import KeyFolders, Placed, tighten, write_owner_only
from warden_cli.layout import SERVICES, Layout
from warden_cli.process_description import Embedded, process
from warden_cli.service_users import ServiceUsers, ServiceUsersUnavailable

log = logging.getLogger("warden.launcher")
# The approver console runs beside the five services under the `approver` bus identity.
CONSOLE = "console"
# Scheduled tasks (health checks, reports, sweeps) hand due runs to the planner.
SCHEDULER = "scheduler"
# The elevation authority (services/elevation): its own process and bus identity, holding the
# account key that signs time-boxed NATS users and the key that signs sandbox write tokens.
ELEVATION = "elevation"
CHILDREN = (*SERVICES, CONSOLE, SCHEDULER, ELEVATION)


@dataclass
class StackOptions:
    tick_s: float = 0.5
    approval_timeout_s: int | None = None
    log_level: str = "INFO"
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    health_timeout_s: float = 60.0  # a loaded CI machine may need longer for every service to answer
    # Each stop step (the children, then NATS) gets this long, then SIGKILL.
    stop_timeout_s: float = 10.0
    # Every service appends its spans here as OTLP-JSON (WARDEN_TRACE_FILE); None: no file export.
    trace_file: Path | None = None
    scheduler_tasks_file: Path | None = None  # None: the scheduler's packaged tasks.yaml
    # From warden.yaml (warden_cli.estate_wiring): fixed ports per listener (0 or absent: a free
    # one) and per-service settings, which the caller's own environment overrides.
    ports: dict[str, int] = field(default_factory=dict)
    estate_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Each service as its own system user (warden_cli.service_users; needs root).
    service_users: bool = False


@dataclass
class Process:
    name: str
    port: int
    popen: subprocess.Popen[bytes]


class StackFailed(RuntimeError):
    pass


@dataclass
class EmbeddedStack:
    layout: Layout
    options: StackOptions = field(default_factory=StackOptions)
    nats: EmbeddedNats | None = None
    processes: dict[str, Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    lock: supervisor.StackLock = field(init=False)
    # What each child's key folder holds and the variables that point at it (set by `start`).
    placed: dict[str, Placed] = field(default_factory=dict)
    # With `options.service_users`: the accounts and the folders each owns (set by `start`).
    users: ServiceUsers | None = None

    def __post_init__(self) -> None:
        self.lock = supervisor.StackLock(self.layout.root / "stack.lock")

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['triage'].port}/webhooks/azure-monitor"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['sandbox'].port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.processes[CONSOLE].port}"

    def _env(self, service: str, ports: dict[str, int]) -> dict[str, str]:
        """The child's environment from its process description (warden_cli.process_description):
        no secret values, only paths into its own key folder (`WARDEN_X_FILE` for secrets), so
        `/proc/<pid>/environ` gives nothing away. `warden cluster` builds on this too."""
        assert self.nats
        where = Embedded(
            service=service,
            root=self.layout.root,
            nats_url=self.nats.url,
            ports=ports,
            options=self.options,
            key_folder=self.placed[service].folder,
        )
        # From the launcher's own environment only the allow-list (warden_cli.child_env); a
        # secret it exported for this service reaches it as a file in its key folder.
        passed = child_env.inherited(process(service).module)
        described = process(service).embedded_env(where)
        # A secret the launcher already hands over as a file is not written a second time.
        exported = {k: v for k, v in passed.secrets.items() if not {k, k + child_env.FILE_SUFFIX} & set(described)}
        layers = (
            self.options.estate_env.get(service, {}),
            passed.env,
            self._secret_files(service, exported),
            described,
            self.users.env(service) if self.users else {},
            self.options.extra_env.get(service, {}),  # tests and the demo: they win
        )
        return layered_env(*layers)

    def _secret_files(self, service: str, secrets: Mapping[str, str]) -> dict[str, str]:
        """`WARDEN_X` exported for the launcher, written to the service's key folder: `WARDEN_X_FILE`."""
        folder = self.placed[service].folder
        env = {}
        for variable, value in secrets.items():
            path = folder / child_env.secret_file_name(variable)
            write_owner_only(path, value.encode())
            env[f"{variable}{child_env.FILE_SUFFIX}"] = str(path)
        return env

    async def start(self) -> None:
        """Start everything, or nothing: a failure (or cancellation) stops what was started."""
        os.umask(0o077)  # inherited by NATS and every child: owner-only files and folders
        self.lock.acquire()  # raises StackLocked before anything is started
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        lay = self.layout
        if self.options.service_users:
            if self.options.trace_file is not None:
                raise ServiceUsersUnavailable("--service-users cannot share one trace file between the services' users")
            self.users = ServiceUsers.prepare(lay, CHILDREN)  # before anything starts: refusals come first
        lay.logs.mkdir(parents=True, exist_ok=True)
        if changed := tighten(lay.root):
            log.info("made %d files and folders under %s owner-only", len(changed), lay.root)
        keys = KeyFolders(lay)
        keys.create_owned_keys()
        self.nats = await EmbeddedNats(
            lay.root, port=self.options.ports.get("nats", 0), account_seed=lay.account_seed, env=child_env.basics()
        ).start()
        assert self.nats.auth
        await provision(self.nats.url, self.nats.auth.creds("admin"))
        ensure_embedded_users(lay.keys / "console-users.yaml", lay.keys / "console-initial-passwords.txt")
        self.placed = keys.place_all(self.nats.auth, lay.secrets(), CHILDREN)
        ports = {name: self.options.ports.get(name) or free_port() for name in CHILDREN}
        self.ports = ports
        if self.users:
            reads = {name: self.users.shared_reads(name, self._env(name, ports)) for name in CHILDREN}
            self.users.hand_over(reads)
        for name in CHILDREN:
            self._spawn(name)
        await self._wait_healthy(self.options.health_timeout_s)
        lay.write_stack(
            {
                "nats_url": self.nats.url,
                "webhook_url": self.webhook_url,
                "sandbox_url": self.sandbox_url,
                "console_url": self.console_url,
                "ports": ports,
                "pids": {n: p.popen.pid for n, p in self.processes.items()},
            }
        )

    def _spawn(self, name: str) -> None:
        with self.layout.log(name).open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", process(name).module],
                env=self._env(name, self.ports),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.layout.root,
                **(self.users.popen_kwargs(name) if self.users else {}),
            )
        self.processes[name] = Process(name, self.ports[name], popen)

    async def restart(self, name: str) -> None:
        """Start a dead process again exactly as `start` did (same command, port, environment and
        data; for "nats" the same port and JetStream store), then wait until the stack is healthy.

        For fault tests and operators' tooling: `run_until_signalled` never restarts anything, it
        stops the stack when a process dies.
        """
        current = self.watched().get(name)
        if current is None:
            raise KeyError(f"no process {name!r} in this stack")
        if supervisor.alive(current):
            raise StackFailed(f"{name} (pid {current.pid}) is still running")
        if name == "nats":
            assert self.nats
            await self.nats.start()
        else:
            self._spawn(name)
        await self._wait_healthy(self.options.health_timeout_s)

    async def _wait_healthy(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = set(self.processes)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending:
                if self.nats and self.nats.process and self.nats.process.poll() is not None:
                    raise StackFailed(f"nats-server exited with {self.nats.process.returncode}")
                for name in sorted(pending):
                    proc = self.processes[name]
                    if proc.popen.poll() is not None:
                        raise StackFailed(f"{name} exited with {proc.popen.returncode}; see {self.layout.log(name)}")
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(f"http://127.0.0.1:{proc.port}{process(name).health}") as resp:
                            if resp.status == 200:
                                pending.discard(name)
                if pending and loop.time() > deadline:
                    raise StackFailed(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")
                await asyncio.sleep(0.2)

    def watched(self) -> dict[str, subprocess.Popen[bytes]]:
        """Every process the stack depends on: NATS and each child."""
        procs = {n: p.popen for n, p in self.processes.items()}
        if self.nats and self.nats.process:
            procs["nats"] = self.nats.process
        return procs

    def dead_processes(self) -> list[str]:
        return supervisor.first_dead(self.watched())

    async def stop(self) -> None:
        """Stop in order (children, then NATS), each step bounded, SIGKILL after the deadline."""
        deadline = self.options.stop_timeout_s
        try:
            await supervisor.stop_processes({n: p.popen for n, p in self.processes.items()}, deadline)
            self.processes.clear()
            if self.nats and self.nats.process:
                await supervisor.stop_processes({"nats": self.nats.process}, deadline)
                self.nats.process = None
            with contextlib.suppress(FileNotFoundError):
                self.layout.stack_file.unlink()
        finally:
            self.lock.release()


async def run_until_signalled(stack: EmbeddedStack, announce: object) -> None:
    """Run until Ctrl-C / SIGTERM (returns) or until NATS or a child dies (raises StackFailed);
    either way everything is stopped first. A signal during start-up cancels the start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(stack.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()  # start() stops what it had started
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return
    stopped.cancel()
    starting.result()  # a failed start-up has already stopped everything; re-raise its error
    try:
        announce(stack)  # type: ignore[operator]
        dead = await supervisor.watch(stack.watched(), stop)
        if dead:
            codes = {n: stack.watched()[n].returncode for n in dead}
            raise StackFailed(
                "stopped the stack because a process exited: " + ", ".join(f"{n} (exit {c})" for n, c in codes.items())
            )
    finally:
        await stack.stop()


def layered_env(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win; a layer that sets `X` drops an earlier `X_FILE` and the other way round,
    because a service refuses both (warden_security.secret_files)."""
    merged: dict[str, str] = {}
    for layer in layers:
        for name, value in layer.items():
            merged.pop(name.removesuffix("_FILE") if name.endswith("_FILE") else f"{name}_FILE", None)
            merged[name] = value
    return merged


def service_log_tail(layout: Layout, service: str, lines: int = 20) -> str:
    path: Path = layout.log(service)
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
