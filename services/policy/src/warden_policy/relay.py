"""Transactional outbox: state and the messages it implies are committed together, then published.

A crash between commit and publish loses nothing: redelivery of the cause republishes the stored
messages (same ids, so the broker drops duplicates) and the background flush publishes stragglers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from warden_bus.port import RetryLater
from warden_contracts.envelope import Envelope

from warden_policy.envelopes import PENDING
from warden_policy.ports import AlreadyProcessed, Changes, Clock, Conflict, Publisher, StateStore

log = logging.getLogger("warden.policy")

MAX_ATTEMPTS = 5
# Rows younger than this are still being published by the handler that wrote them.
FLUSH_GRACE = timedelta(seconds=2)
RETENTION = timedelta(days=7)


class Relay:
    def __init__(self, bus: Publisher, store: StateStore, clock: Clock) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock

    async def send(self, envelopes: Sequence[Envelope]) -> None:
        """Everything at once, then the doorbells: a signed action always precedes its doorbell.
        The sent ones are marked in one statement; a failure leaves its rows to the flush."""
        sent: list[str] = []
        failed: BaseException | None = None
        for wave in _waves(envelopes):
            results = await asyncio.gather(*(self._bus.publish(e) for e in wave), return_exceptions=True)
            sent += [e.id for e, r in zip(wave, results, strict=True) if not isinstance(r, BaseException)]
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                break  # no doorbell may ring for an action that is not on the bus yet
        if sent:
            await self._store.mark_published(sent, self._clock())
        if failed is not None:
            raise failed

    async def flush(self) -> int:
        now = self._clock()
        waiting = await self._store.unpublished(now - FLUSH_GRACE)
        await self.send(waiting)
        await self._store.purge(now - RETENTION, now)
        return len(waiting)


def _waves(envelopes: Sequence[Envelope]) -> list[list[Envelope]]:
    rest = [e for e in envelopes if e.type != PENDING]
    doorbells = [e for e in envelopes if e.type == PENDING]
    return [wave for wave in (rest, doorbells) if wave]


Attempt = Callable[[], Awaitable[Changes]]


async def process_once(store: StateStore, clock: Clock, message_id: str, attempt: Attempt) -> list[Envelope]:
    """Decide and commit exactly once per message id; on a concurrent change, reload and re-decide."""
    done = await store.outbox_of(message_id)
    if done is not None:
        return done
    for _ in range(MAX_ATTEMPTS):
        changes = await attempt()
        changes.message_id = message_id
        try:
            await store.apply(changes, clock())
            return changes.outbox
        except AlreadyProcessed:
            return await store.outbox_of(message_id) or []
        except Conflict as err:
            log.info("state changed while deciding %s, re-deciding: %s", message_id, err)
    raise RetryLater(f"state kept changing while deciding {message_id}")
