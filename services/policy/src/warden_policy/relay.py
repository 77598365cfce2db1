"""Transactional outbox: state and the messages it implies are committed together, then published
by the persistence kit's relay (`warden_persistence.outbox`), in policy's order.

A crash between commit and publish loses nothing: redelivery of the cause republishes the stored
messages (same ids, so the broker drops duplicates) and the background flush publishes stragglers.
`process_once` is the inbox side: a message id is decided and committed once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from warden_bus.port import RetryLater
from warden_contracts.envelope import Envelope
from warden_persistence.outbox import Relay as OutboxRelay

from warden_policy.envelopes import PENDING
from warden_policy.ports import AlreadyProcessed, Changes, Clock, Conflict, Publisher, StateStore

log = logging.getLogger("warden.policy")

MAX_ATTEMPTS = 5


class Relay(OutboxRelay[Envelope]):
    """The kit's relay with policy's order: everything at once, in the order staged (a decision
    before its approval request or action), then the doorbells, so a signed action always
    precedes its doorbell. The sent ones are marked in one statement; a failure leaves its rows
    to the flush, which claims them as `claimer` (this replica's id) first, so of several
    replicas on one store each row goes out from one."""

    def __init__(self, bus: Publisher, store: StateStore, clock: Clock, *, claimer: str) -> None:
        # A bus that can publish a wave at once (NATS) does: no task, request and timer per message.
        many: Callable[[Sequence[Envelope]], Awaitable[None]] | None = getattr(bus, "publish_many", None)
        super().__init__(
            bus.publish, store, clock, id_of=lambda e: e.id, claimer=claimer, waves=_waves, publish_many=many
        )


def _waves(envelopes: Sequence[Envelope]) -> list[list[Envelope]]:
    # No doorbell may ring for an action that is not on the bus yet.
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
