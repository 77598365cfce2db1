"""`warden cluster up`: Warden past one process per service — a 3-node NATS JetStream cluster,
streams with 3 replicas, the local PostgreSQL, and N replicas of every service whose state is
shared (`cluster_replicas.PLANS`; the others run once and `status` says why).

Everything the embedded mode generates is reused, not re-implemented: the operator/account keys
and per-service users (`ensure_auth_material`), streams and durables (`provision`, here with 3
replicas), the console's users, and each service's environment (`EmbeddedStack._env`, with the
node list as `WARDEN_NATS_URL` and the store URLs added). The processes outlive the command:
`cluster.json` records them by PID and start time for `down` and `status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from warden_bus.embedded_auth import ensure_auth_material
from warden_bus.embedded_server import EmbeddedNats, free_port
from warden_bus.nats_cluster import NatsCluster, provision_replicated
from warden_console.api import ensure_embedded_users

from warden_cli import cluster_database as db
from warden_cli.cluster_processes import Tracked, stop_all
from warden_cli.cluster_replicas import plan
from warden_cli.key_folders import KeyFolders, Placed, tighten
from warden_cli.launcher import CHILDREN, EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.supervisor import StackLock

STREAM_REPLICAS = 3


class ClusterFailed(RuntimeError):
    pass


@dataclass
class ClusterOptions:
    replicas: int = 2
    postgres_url: str = db.DEFAULT_SERVER
    health_timeout_s: float = 120.0  # a dozen Python processes starting at once on 2 cores
    stop_timeout_s: float = 10.0
    stack: StackOptions = field(default_factory=StackOptions)  # tick, log level, per-service extra env
    # Which services to run (benchmarks and fault tests run a part); None: all of them.
    only: tuple[str, ...] | None = None


def cluster_file(layout: Layout) -> Path:
    return layout.root / "cluster.json"


@dataclass
class ClusterStack:
    layout: Layout
    options: ClusterOptions = field(default_factory=ClusterOptions)
    nats: NatsCluster = field(init=False)
    services: dict[str, Tracked] = field(default_factory=dict)  # "policy-2" -> its process
    ports: dict[str, int] = field(default_factory=dict)  # service -> its first replica's port
    database_url: str = ""
    placed: dict[str, Placed] = field(default_factory=dict)  # each service's key folder (key_folders)

    def __post_init__(self) -> None:
        self.nats = NatsCluster(
            self.layout.root / "nats",
            ensure_auth_material(self.layout.nats_auth, self.layout.account_seed),
            self.layout.logs,
        )

    # --- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything or nothing: a failure (or cancellation) stops what was started."""
        if self.options.replicas < 1:
            raise ClusterFailed("--replicas must be at least 1")
        refuse_if_running(self.layout)
        lock = StackLock(self.layout.root / "stack.lock")
        lock.acquire()  # no `warden up` / `cluster up` on this folder while we start
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        finally:
            lock.release()

    async def _start(self) -> None:
        lay = self.layout
        os.umask(0o077)  # as `warden up`: owner-only files and folders, inherited by every child
        lay.logs.mkdir(parents=True, exist_ok=True)
        tighten(lay.root)
        keys = KeyFolders(lay)
        keys.create_owned_keys()
        name = db.database_name(lay.root)
        self.database_url = await asyncio.to_thread(db.ensure_database, self.options.postgres_url, name)
        self.nats.plan()
        try:
            await self.nats.start()
        finally:
            self._write()  # the nodes are on record from now on, even if what follows fails
        await self._provision()
        ensure_embedded_users(lay.keys / "console-users.yaml", lay.keys / "console-initial-passwords.txt")
        self.placed = keys.place_all(self.nats.material, lay.secrets(), CHILDREN)
        # Every replica's port first: the environment of one service names its neighbours' ports.
        ports = {
            (service, i): free_port()
            for service in CHILDREN
            for i in range(1, plan(service).replicas(self.options.replicas) + 1)
        }
        self.ports = {service: port for (service, i), port in ports.items() if i == 1}
        for (service, i), port in ports.items():
            if self.options.only is None or service in self.options.only:
                self._spawn(f"{service}-{i}", service, port)
        self._write()
        await self.wait_healthy(list(self.services))
        if self.options.only is None:
            self._write_stack()

    async def _provision(self) -> None:
        try:
            await provision_replicated(self.nats.url, self.nats.material.creds("admin"), STREAM_REPLICAS)
        except TimeoutError as err:
            raise ClusterFailed(f"{err}; see {self.layout.logs}/nats-*.log") from None

    def env(self, service: str, port: int, replica: str) -> dict[str, str]:
        """The embedded mode's environment for `service`, on the cluster and its PostgreSQL."""
        template = EmbeddedStack(self.layout, self.options.stack)
        template.nats = EmbeddedNats(self.layout.root, port=self.nats.nodes[0].port)
        template.placed = self.placed
        env = template._env(service, self.ports | {service: port})
        env["WARDEN_NATS_URL"] = self.nats.url
        env["WARDEN_HTTP_PORT"] = str(port)
        return env | plan(service).env(self.database_url, replica) | self.options.stack.extra_env.get(service, {})

    def _spawn(self, name: str, service: str, port: int) -> Tracked:
        with self.layout.log(name).open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", f"warden_{service}"],
                env=self.env(service, port, name),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.layout.root,
                start_new_session=True,  # outlives `cluster up`; stopped by `cluster down`
            )
        self.services[name] = Tracked.of(name, "service", service, popen, port)
        return self.services[name]

    async def wait_healthy(self, names: list[str], timeout_s: float | None = None) -> None:
        timeout = timeout_s or self.options.health_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending:
                for name in sorted(pending):
                    proc = self.services[name]
                    if not proc.alive:
                        raise ClusterFailed(f"{name} exited; see {self.layout.log(name)}")
                    if await healthy(http, proc.port):
                        pending.discard(name)
                if pending and loop.time() > deadline:
                    raise ClusterFailed(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")
                await asyncio.sleep(0.2)

    # --- faults and restarts (tests, operators) ------------------------------------------------

    def replicas_of(self, service: str) -> list[Tracked]:
        return [p for p in self.services.values() if p.service == service]

    async def stop_replica(self, name: str) -> str:
        """Stop one replica (SIGTERM, SIGKILL after the stop deadline); the rest keep running."""
        return (await stop_all([self.services[name]], self.options.stop_timeout_s))[name]

    async def restart(self, name: str) -> None:
        """Start a stopped replica again (same port, environment and data) and wait for its health."""
        proc = self.services[name]
        if proc.alive:
            raise ClusterFailed(f"{name} (pid {proc.pid}) is still running")
        self._spawn(name, proc.service, proc.port)
        self._write()
        await self.wait_healthy([name])

    async def stop_node(self, name: str) -> str:
        """Stop one NATS node (SIGTERM: it hands its leaderships over; SIGKILL after the deadline)."""
        node = self.nats.node(name)
        if node.process is None:
            return "not running"
        tracked = Tracked.of(name, "node", "nats", node.process, node.port)
        return (await stop_all([tracked], self.options.stop_timeout_s))[name]

    async def restart_node(self, name: str) -> None:
        await self.nats.restart(name)
        self._write()

    # --- stop ----------------------------------------------------------------------------------

    def tracked(self) -> list[Tracked]:
        nodes = [
            Tracked.of(n.name, "node", "nats", n.process, n.port) for n in self.nats.nodes if n.process is not None
        ]
        return [*self.services.values(), *nodes]

    async def stop(self) -> dict[str, str]:
        """Services first, then the nodes; each step bounded by the stop deadline, then SIGKILL."""
        deadline = self.options.stop_timeout_s
        outcome = await stop_all(list(self.services.values()), deadline)
        nodes = [p for p in self.tracked() if p.kind == "node"]
        outcome |= await stop_all(nodes, deadline)
        for path in (cluster_file(self.layout), self.layout.stack_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return outcome

    # --- the record ----------------------------------------------------------------------------

    def _write(self) -> None:
        info = {
            "data_dir": str(self.layout.root),
            "database_url": self.database_url,
            "requested_replicas": self.options.replicas,
            "stop_timeout_s": self.options.stop_timeout_s,
            "nats_url": self.nats.url,
            "node_ports": self.nats.ports(),
            "processes": [p.record() for p in self.tracked()],
        }
        cluster_file(self.layout).write_text(json.dumps(info, indent=2))

    def _write_stack(self) -> None:
        """`stack.json` as `warden up` writes it, so `warden ingest`, `approve`, `kill-switch`, ...
        work against the cluster unchanged (they reach the first replica of each service)."""
        self.layout.write_stack(
            {
                "nats_url": self.nats.url,
                "webhook_url": f"http://127.0.0.1:{self.ports['triage']}/webhooks/azure-monitor",
                "sandbox_url": f"http://127.0.0.1:{self.ports['sandbox']}",
                "console_url": f"http://127.0.0.1:{self.ports['console']}",
                "ports": self.ports,
                "pids": {n: p.pid for n, p in self.services.items()},
                "cluster": True,
            }
        )


async def healthy(http: aiohttp.ClientSession, port: int) -> bool:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            return resp.status == 200
    return False


def read_cluster(layout: Layout) -> dict[str, Any]:
    path = cluster_file(layout)
    if not path.exists():
        raise FileNotFoundError(f"no cluster under {layout.root}: start one with `warden cluster up`")
    return dict(json.loads(path.read_text()))


def recorded(layout: Layout) -> list[Tracked]:
    return [Tracked.from_record(r) for r in read_cluster(layout)["processes"]]


def refuse_if_running(layout: Layout) -> None:
    with contextlib.suppress(FileNotFoundError):
        live = [p.name for p in recorded(layout) if p.alive]
        if live:
            raise ClusterFailed(
                f"a cluster is already running on {layout.root} ({', '.join(live[:4])}...); "
                "stop it with `warden cluster down`"
            )


async def down(layout: Layout, deadline_s: float | None = None) -> dict[str, str]:
    """Stop a cluster started by another process: services, then nodes, by recorded PID."""
    info = read_cluster(layout)
    processes = recorded(layout)
    deadline = float(deadline_s if deadline_s is not None else info.get("stop_timeout_s", 10.0))
    outcome = await stop_all([p for p in processes if p.kind == "service"], deadline)
    outcome |= await stop_all([p for p in processes if p.kind == "node"], deadline)
    if not any(p.alive for p in processes):
        for path in (cluster_file(layout), layout.stack_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return outcome
