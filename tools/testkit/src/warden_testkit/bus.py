"""A real embedded NATS server for tests: operator mode, provisioned from the topology.

Not a fake: the same server, permissions and streams `warden up` uses, on a free port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from warden_bus.embedded_server import EmbeddedNats
from warden_bus.nats_bus import NatsBus
from warden_bus.permissions import inbox_prefix
from warden_bus.provision import provision
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope


@dataclass
class EmbeddedBroker:
    server: EmbeddedNats

    @property
    def url(self) -> str:
        return self.server.url

    def creds(self, identity: str) -> Path:
        assert self.server.auth
        return self.server.auth.creds(identity)

    def bus(self, identity: str) -> NatsBus:
        return NatsBus(identity, self.url, self.creds(identity))

    async def connect(self, identity: str, errors: list[str] | None = None) -> nats.NATS:
        async def on_error(err: Exception) -> None:
            if errors is not None:
                errors.append(str(err))

        return await nats.connect(
            self.url,
            user_credentials=str(self.creds(identity)),
            inbox_prefix=inbox_prefix(identity),
            error_cb=on_error,
            allow_reconnect=False,
        )

    async def publish_raw(self, topic: str, raw: bytes, msg_id: str | None = None, identity: str = "admin") -> None:
        nc = await self.connect(identity)
        try:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await nc.jetstream().publish(topic, raw, headers=headers, timeout=5)
        finally:
            await nc.close()

    async def read_all(self, topic: str, *, wait: float = 0.0, deadline_s: float = 30.0) -> list[Envelope]:
        """Everything on a topic's stream now, read as admin through an ephemeral consumer; `wait`
        first lets late messages land (an absence check that must give the service time).

        Reads exactly the consumer's pending count at creation: a read ends when the stream is
        read, not after a fetch has waited in vain (that cost every read, and every poll of
        `wait_for`, half a second)."""
        if wait:
            await asyncio.sleep(wait)
        t = topo.topic(topic)
        nc = await self.connect("admin")
        out: list[Envelope] = []
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                t.subject_filter,
                stream=t.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE,
                    deliver_policy=DeliverPolicy.ALL,
                    inactive_threshold=5,
                    mem_storage=True,
                ),
            )
            expected = (await sub.consumer_info()).num_pending or 0
            loop = asyncio.get_running_loop()
            until = loop.time() + deadline_s
            while len(out) < expected and loop.time() < until:
                try:
                    msgs = await sub.fetch(min(100, expected - len(out)), timeout=2)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                out += [Envelope.from_bytes(m.data) for m in msgs]
            if len(out) < expected:
                raise AssertionError(f"read {len(out)} of the {expected} messages on {topic} in {deadline_s:.0f} s")
            await sub.unsubscribe()
        finally:
            await nc.close()
        return out

    async def wait_for(
        self, topic: str, predicate: Callable[[Envelope], bool] | None = None, *, timeout: float = 20.0, count: int = 1
    ) -> list[Envelope]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [e for e in await self.read_all(topic) if predicate is None or predicate(e)]
            if len(found) >= count or loop.time() > deadline:
                return found
            await asyncio.sleep(0.1)


async def until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll until `condition` holds (True) or `timeout` seconds pass (False): waits on the state, not a guess."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def eventually(
    condition: Callable[[], bool], timeout: float = 20.0, *, what: str = "condition", interval: float = 0.05
) -> None:
    """`until`, failing the test with `what` when the deadline passes."""
    assert await until(condition, timeout, interval), f"{what} not met before the deadline"


@asynccontextmanager
async def embedded_broker(data_dir: Path) -> AsyncIterator[EmbeddedBroker]:
    server = await EmbeddedNats(data_dir).start()
    try:
        assert server.auth
        await provision(server.url, server.auth.creds("admin"))
        yield EmbeddedBroker(server)
    finally:
        await _discard(server)


async def _discard(server: EmbeddedNats) -> None:
    """Kill rather than stop: the data folder is thrown away with the test, and a graceful
    JetStream shutdown of the topology's streams took ~0.4 s of every test's teardown."""
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        await asyncio.to_thread(server.process.wait, 10)
    await server.stop()
