"""The bus port the handlers use. Only adapters in this package know a broker.

Handlers receive a validated `Envelope` and signal the outcome by returning (ack) or raising:
`RetryLater` (redeliver after a delay), `PoisonMessage` (dead-letter now). Any other exception is
retried with back-off until `max_deliveries`, then dead-lettered. Every dead letter is published
to the dead-letter topic, which audit records, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from warden_contracts.envelope import Envelope

Handler = Callable[[Envelope], Awaitable[None]]


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can also take a whole pull batch in one call (one store commit for all).

    `handle_batch` is all or nothing: when it returns, every envelope is done and is acked; when
    it raises, the adapter settles each envelope through `__call__` alone, so nothing of the
    batch may have been committed, or what was must be found done when `__call__` sees it again
    (idempotent by envelope id, as policy's one-plan-at-a-time `OneByOne`). Adapters without
    batches only ever use `__call__`."""

    async def __call__(self, envelope: Envelope) -> None: ...

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None: ...


class PoisonMessage(Exception):
    """The message can never be processed: dead-letter it with this reason."""


class RetryLater(Exception):
    def __init__(self, reason: str, delay: timedelta = timedelta(seconds=2)) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class SubscriptionOptions:
    max_deliveries: int = 5
    batch_size: int = 20


class Bus(Protocol):
    identity: str

    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's acknowledgement; de-duplicated on `envelope.id`."""

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        """Register before `start`; consumes through this identity's durable subscription."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def healthy(self) -> bool: ...
