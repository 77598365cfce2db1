"""Drain an elevated subscription (`sre.action.approved.v1/executor`) on Service Bus while a
just-in-time role is active: the counterpart of `warden_bus.elevation.NatsElevatedDrain`.

On Azure the grant is a PIM activation of Data Receiver on that one subscription for the
executor's managed identity, so the client is the executor's ordinary one; the role's expiry, not
a credential, ends the access. Messages are settled with the same inbound policy as every
subscription, one at a time, and a completed message is confirmed by the broker before the next.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus.azure_servicebus import entities
from warden_bus.azure_servicebus.bus import to_message
from warden_bus.azure_servicebus.settlement import settle_received
from warden_bus.port import Handler, SubscriptionOptions

PEEK_LIMIT = 250
APPROVED_TOPIC = "sre.action.approved.v1"


@dataclass
class ServiceBusElevatedDrain:
    client: ServiceBusClient
    expires_at: float  # epoch seconds: when the activated role lapses
    identity: str = "executor"
    max_wait_s: float = 1.0

    def _check(self, topic: str) -> topo.Topic:
        t = topo.topic(topic)
        if self.identity not in t.elevated_consumers:
            raise PermissionError(f"{self.identity} has no elevated subscription on {topic}")
        return t

    def _receiver(self, topic: str) -> ServiceBusReceiver:
        return self.client.get_subscription_receiver(
            topic_name=topic,
            subscription_name=entities.subscription_name(self.identity),
            receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
        )

    async def in_flight(self, topic: str) -> int:
        """Messages still on the subscription, locked by a process that died or waiting."""
        self._check(topic)
        async with self._receiver(topic) as receiver:
            return len(await receiver.peek_messages(max_message_count=PEEK_LIMIT))

    async def drain(self, topic: str, handler: Handler, *, max_messages: int = 100) -> int:
        t = self._check(topic)
        handled = 0
        retries: list[asyncio.Task[None]] = []
        letters = self.client.get_topic_sender(topic_name=topo.DEADLETTER_TOPIC)

        async def publish_letter(letter: Envelope) -> None:
            await letters.send_messages(to_message(self.identity, letter))

        def abandon_later(receiver: ServiceBusReceiver, msg: ServiceBusReceivedMessage, delay: float) -> None:
            async def later() -> None:
                await asyncio.sleep(min(delay, max(0.0, self.expires_at - time.time())))
                await receiver.abandon_message(msg)

            retries.append(asyncio.create_task(later()))

        async with self._receiver(topic) as receiver, letters:
            while handled < max_messages and time.time() < self.expires_at:
                batch = await receiver.receive_messages(max_message_count=1, max_wait_time=self.max_wait_s)
                if not batch:
                    break
                await settle_received(
                    self.identity, t, receiver, batch[0], handler, SubscriptionOptions(), publish_letter, abandon_later
                )
                handled += 1
            # Retries are given back before the receiver closes, so nothing waits for a lock to lapse.
            await asyncio.gather(*retries, return_exceptions=True)
        return handled


class Expiring(Protocol):
    """What a just-in-time grant tells the drain: when the activated role lapses."""

    @property
    def expires_at(self) -> datetime: ...


@dataclass
class ServiceBusApprovedActionSource:
    """The executor's approved-action source on Service Bus (its `ApprovedActionSource` port):
    any grant with an `expires_at` (a PIM activation) bounds the drain."""

    client: ServiceBusClient
    identity: str = "executor"
    topic: str = APPROVED_TOPIC

    def _drain(self, grant: Expiring) -> ServiceBusElevatedDrain:
        return ServiceBusElevatedDrain(self.client, grant.expires_at.timestamp(), self.identity)

    async def drain(self, grant: Expiring, handler: Handler, *, max_messages: int) -> int:
        return await self._drain(grant).drain(self.topic, handler, max_messages=max_messages)

    async def in_flight(self, grant: Expiring) -> int:
        return await self._drain(grant).in_flight(self.topic)
