"""The bus port over NATS JetStream, through FastStream.

Each service connects as its own operator-mode user; it only binds to durables the admin
bootstrap created (streams are never declared here) and uses its own inbox prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from faststream.nats.security import NatsCredentials
from nats.errors import ConnectionReconnectingError
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus import tracing
from warden_bus.library_logs import adopt_faststream_loggers, broker_logger
from warden_bus.nats_atomic_batch import MAX_BATCH, BatchMessage, BatchRefused, publish_atomic
from warden_bus.nats_batch import BatchConsumer
from warden_bus.nats_publish_acks import PublishAcks
from warden_bus.nats_settlement import settle_message
from warden_bus.permissions import inbox_prefix
from warden_bus.port import BatchHandler, Handler, SubscriptionOptions
from warden_bus.settings import nats_servers

log = logging.getLogger("warden.bus")
PUBLISH_ATTEMPTS = 4


def retry_delay_s(attempt: int) -> float:
    """Exponential from 0.2 s, at most 2 s, after the `attempt`-th timed-out publish (1-based)."""
    return float(min(2.0, 0.2 * 2 ** (attempt - 1)))


class PublishFailed(RuntimeError):
    pass


class NatsBus:
    def __init__(self, identity: str, url: str, creds: Path, *, publish_timeout: float = 5.0) -> None:
        self.identity = identity
        self._publish_timeout = publish_timeout
        self._connected = False
        self.errors: list[str] = []
        self._batches: list[BatchConsumer] = []
        self._batch_tasks: list[asyncio.Task[None]] = []
        self._publish_acks: PublishAcks | None = None
        self._no_atomic: set[str] = set()  # streams whose server refused atomic batches
        self._acks_made = asyncio.Lock()
        self.broker = NatsBroker(
            nats_servers(url),
            security=NatsCredentials(str(creds)),
            inbox_prefix=inbox_prefix(identity),
            name=f"warden-{identity}",
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnect,
            reconnected_cb=self._on_reconnect,
            max_reconnect_attempts=-1,
            # Handlers take the message as it came (see `_undecoded`): with FastDepends on, each
            # delivery also resolved the message argument in an anyio task group and a worker
            # thread (a bus relay's p50 was 0.6-1.0 ms longer with it, on a busy 2-core machine).
            apply_types=False,
            log_level=logging.DEBUG,
            # Not FastStream's own colourised, non-propagating logger: ours reaches the JSON handler.
            logger=broker_logger(),
        )
        adopt_faststream_loggers()

    async def _on_error(self, err: Exception) -> None:
        # Refused JetStream calls surface as client timeouts; the reason only arrives here.
        self.errors.append(str(err))
        log.warning("nats error: %s", err)

    async def _on_disconnect(self) -> None:
        self._connected = False

    async def _on_reconnect(self) -> None:
        self._connected = True

    @property
    def healthy(self) -> bool:
        return self._connected

    async def publish(self, envelope: Envelope) -> None:
        subject, stream = self._route(envelope)
        with tracing.publishing(envelope) as trace_headers:
            await self._publish(envelope, subject, stream, trace_headers)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish all at once. A group for one stream goes as atomic batches (`nats_atomic_batch`:
        stored under one commit, one acknowledgement). Otherwise, or when the server refuses a
        batch (a repeat of ids it stored, a stream without `allow_atomic`), every message is
        written before any acknowledgement is awaited, and the acks are awaited together
        (`PublishAcks`: one reply subscription, a future per message). Acks that do not come
        within the publish timeout are re-sent like `publish`'s. Raises the first failure after
        every publish has settled; a partial failure is safe to repeat whole: ids de-duplicate."""
        if tracing.active():  # a producer span per message covers its acknowledgement: one at a time
            results = await asyncio.gather(*(self.publish(e) for e in envelopes), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return
        if not envelopes:
            return
        sender = await self._acks()
        if len(envelopes) > 1:
            try:
                await self._publish_batches(sender, envelopes)
                return
            except BatchRefused as refused:
                if refused.disabled:
                    self._no_atomic.add(self._route(envelopes[0])[1])
                log.debug("publishing %d one by one: %s", len(envelopes), refused)
        pending = list(envelopes)
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            acks: list[asyncio.Future[Any]] = []
            tokens: list[str] = []
            try:
                for envelope in pending:
                    subject, stream = self._route(envelope)
                    with tracing.publishing(envelope) as trace_headers:
                        headers = self._headers(envelope, trace_headers)
                    token, ack = await sender.publish(subject, envelope.to_bytes(), stream, headers)
                    tokens.append(token)
                    acks.append(ack)
                _, late = await asyncio.wait(acks, timeout=self._publish_timeout)
            finally:
                for token, ack in zip(tokens, acks, strict=True):
                    ack.cancel()  # no-op once settled
                    sender.forget(token)  # a late acknowledgement of an abandoned one is ignored
            errors = [a.exception() for a in acks if not a.cancelled()]  # every one retrieved: no warnings
            failed = next((err for err in errors if err is not None), None)
            if failed is not None:
                raise failed
            if not late:
                return
            if attempt == PUBLISH_ATTEMPTS:
                raise TimeoutError(f"{len(late)} of {len(pending)} publishes not acknowledged")
            pending = [e for e, ack in zip(pending, acks, strict=True) if ack in late]
            await asyncio.sleep(retry_delay_s(attempt))

    async def _publish_batches(self, sender: PublishAcks, envelopes: Sequence[Envelope]) -> None:
        """Each run of envelopes for one stream as atomic batches, timed-out ones re-sent under a
        new batch id. Raises `BatchRefused` for a stream without atomic batches, a group that spans
        streams, or a batch the server would not store whole (a repeat of stored ids among them);
        the batches committed before that one stay, and their ids de-duplicate the re-send."""
        subject, stream = self._route(envelopes[0])
        if stream in self._no_atomic:
            raise BatchRefused(f"{stream} does not take atomic batches")
        if any(self._route(e) != (subject, stream) for e in envelopes):
            raise BatchRefused("the group spans subjects")
        for start in range(0, len(envelopes), MAX_BATCH):
            chunk = [BatchMessage(e.to_bytes(), self._headers(e, {})) for e in envelopes[start : start + MAX_BATCH]]
            for attempt in range(1, PUBLISH_ATTEMPTS + 1):
                try:
                    await publish_atomic(sender, subject, stream, chunk, self._publish_timeout)
                    break
                except TimeoutError:
                    if attempt == PUBLISH_ATTEMPTS:
                        raise TimeoutError(f"atomic batch of {len(chunk)} not acknowledged") from None
                    await asyncio.sleep(retry_delay_s(attempt))

    async def _acks(self) -> PublishAcks:
        """The reply subscription of this connection (nats-py keeps it across reconnects)."""
        nc = self.broker.config.connection_state.connection
        async with self._acks_made:
            if self._publish_acks is None or self._publish_acks.client is not nc:
                acks = PublishAcks(nc)
                await acks.start()
                self._publish_acks = acks
            return self._publish_acks

    def _route(self, envelope: Envelope) -> tuple[str, str]:
        topic = topo.topic(envelope.type)
        subject = topo.deadletter_subject(self.identity) if topic.name == topo.DEADLETTER_TOPIC else topic.name
        return subject, topic.stream

    @staticmethod
    def _headers(envelope: Envelope, trace_headers: dict[str, str]) -> dict[str, str]:
        # The body is the whole CloudEvent (structured mode): no consumer reads its attributes
        # from headers. Copies of `type` and `correlationid` here were encoded, stored and parsed
        # per message for nothing: nats-py's encoding of header values took 8.5 % of triage's
        # intake samples in a storm with them, 4.7 % without.
        return {**trace_headers, "Nats-Msg-Id": envelope.id}

    async def _publish(self, envelope: Envelope, subject: str, stream: str, trace_headers: dict[str, str]) -> None:
        headers = self._headers(envelope, trace_headers)
        body = envelope.to_bytes()
        # nats-py's JetStream publish directly: FastStream's publish wrapper cost more than the
        # broker round trip. A plain loop: building a tenacity retryer per call cost as much again.
        js = self.broker.config.connection_state.stream
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await js.publish(subject, body, timeout=self._publish_timeout, stream=stream, headers=headers)
                return
            except TimeoutError:
                if attempt == PUBLISH_ATTEMPTS:
                    raise
                await asyncio.sleep(retry_delay_s(attempt))

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        t = topo.topic(topic)
        if self.identity not in t.consumers:
            raise PermissionError(f"{self.identity} does not consume {topic} in the topology")
        opts = options or SubscriptionOptions()
        if isinstance(handler, BatchHandler):
            inbox = f"{inbox_prefix(self.identity)}.".encode()
            self._batches.append(BatchConsumer(self.identity, t, handler, opts, self.publish, inbox))
            return

        async def consume(msg: NatsMessage) -> None:
            # Settled on the raw message: FastStream's AckPolicy.MANUAL leaves acknowledgement to us.
            await settle_message(self.identity, t, msg.raw_message, handler, opts, self.publish)

        subscriber: Any = self.broker.subscriber(
            t.subject_filter,
            stream=JStream(t.stream, declare=False),
            durable=self.identity,
            pull_sub=PullSub(batch_size=opts.batch_size, timeout=1.0),
            inbox_prefix=f"{inbox_prefix(self.identity)}.".encode(),
            ack_policy=AckPolicy.MANUAL,
            decoder=_undecoded,
        )
        subscriber(consume)

    async def start(self) -> None:
        await self.broker.start()
        self._connected = True
        js = self.broker.config.connection_state.stream
        self._batch_tasks = [asyncio.create_task(c.run(js)) for c in self._batches]

    async def stop(self) -> None:
        self._connected = False
        for task in self._batch_tasks:
            task.cancel()
        for task in self._batch_tasks:
            await cancel_until_done(task)
        self._batch_tasks = []
        try:
            await self.broker.stop()
        except ConnectionReconnectingError:
            # The broker is gone, so there is nothing to drain: close instead, which also ends the
            # reconnect loop (a stop that raised here left the service hanging on its way out).
            connection = self.broker._connection
            self.broker._connection = None
            if connection is not None:
                with contextlib.suppress(OSError):  # flushing what was buffered for the dead socket
                    await connection.close()
            self.broker.config.disconnect()


CANCEL_RETRY_S = 0.5


async def cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it, cancelling again while it still runs. A batch consumer's
    fetch can drop a cancellation: nats-py's `next_msg` turns one that arrives on a closed
    connection into `ConnectionClosedError`, which the loop waits out and fetches again, and on
    Python 3.11 `asyncio.wait_for` (used by `next_msg`) drops one that lands as its inner future
    completes (CPython gh-86296). A plain `await task` then waited forever: a `stop` hung in CI."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY_S)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


async def _undecoded(message: NatsMessage) -> NatsMessage:
    """The message itself as its decoded body: `settle_message` parses the envelope once, so
    FastStream's own JSON decoding of every body (thrown away) is skipped. A coroutine, since
    FastStream runs a plain function given as decoder in a worker thread."""
    return message
