"""Admin bootstrap: streams and durable consumers from the topology. Services never create them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from warden_contracts import topology as topo

from warden_bus.settings import nats_servers

RETENTION = timedelta(days=7)
DUPLICATE_WINDOW = timedelta(minutes=10)  # the Service Bus default, so both behave alike
ACK_WAIT = timedelta(seconds=60)
MAX_DELIVER = 10


def stream_config(t: topo.Topic, replicas: int = 1) -> StreamConfig:
    """`replicas` 3 on a cluster (each message on three nodes before it is acknowledged); its
    consumers inherit the stream's replica count."""
    return StreamConfig(
        name=t.stream,
        subjects=[t.subject_filter],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=RETENTION.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        max_msg_size=1024 * 1024,
        num_replicas=replicas,
        # A producer's group (an Alertmanager notification) stored under one commit: see
        # `nats_atomic_batch`. Publishers that send one message at a time are unaffected.
        allow_atomic=True,
    )


def consumer_config(t: topo.Topic, durable: str) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=t.subject_filter,
        ack_wait=ACK_WAIT.total_seconds(),
        # The adapter dead-letters before this; the broker limit is a backstop.
        max_deliver=MAX_DELIVER,
        max_ack_pending=1000,
    )


async def provision(url: str, admin_creds: Path, *, replicas: int = 1, api_timeout_s: float = 5.0) -> None:
    """Create or update every stream and durable. On a cluster each one is a Raft group formed
    across the nodes, which on a loaded machine takes longer than the client's default 5 s."""
    nc = await nats.connect(nats_servers(url), user_credentials=str(admin_creds), connect_timeout=5)
    try:
        js = nc.jetstream(timeout=api_timeout_s)
        for t in topo.TOPICS:
            try:
                await js.stream_info(t.stream)
                await js.update_stream(stream_config(t, replicas))
            except NotFoundError:
                await js.add_stream(stream_config(t, replicas))
            for durable in (*t.consumers, *t.elevated_consumers):
                await js.add_consumer(t.stream, consumer_config(t, durable))
    finally:
        await nc.close()


async def provision_when_ready(url: str, admin_creds: Path, timeout_s: float = 60.0) -> None:
    """`provision`, retried while the server is still starting (a container next to ours)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await provision(url, admin_creds)
            return
        except (OSError, nats.errors.NoServersError, TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
