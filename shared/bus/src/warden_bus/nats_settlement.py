"""Settle one JetStream message: run the shared inbound policy, then ack, nak or dead-letter.

Used by the standing subscriptions and by the elevated drain, so both treat bad input alike.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus.inbound import Verdict, dead_letter_envelope, settle
from warden_bus.port import Handler, SubscriptionOptions

log = logging.getLogger("warden.bus")

PublishLetter = Callable[[Envelope], Awaitable[None]]


async def settle_message(
    identity: str,
    topic: topo.Topic,
    msg: Msg,
    handler: Handler,
    options: SubscriptionOptions,
    publish_letter: PublishLetter,
    *,
    confirm_ack: bool = False,
) -> None:
    """`confirm_ack` waits for the server to confirm the ack, for consumers that must not see
    a message again once it was acted on."""
    deliveries = msg.metadata.num_delivered or 1
    settlement = await settle(topic, msg.data, deliveries, handler, options, msg.headers, service=identity)
    if settlement.verdict is Verdict.ACK:
        await (msg.ack_sync() if confirm_ack else msg.ack())
    elif settlement.verdict is Verdict.RETRY:
        await msg.nak(delay=settlement.delay_s)
    else:
        position = f"{topic.stream}:{msg.metadata.sequence.stream}"
        letter = dead_letter_envelope(identity, topic, msg.data, settlement, deliveries, position)
        log.warning("dead-lettered %s: %s", position, settlement.reason, extra={"correlationid": letter.correlationid})
        await publish_letter(letter)
        await msg.term()
