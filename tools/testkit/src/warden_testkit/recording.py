"""A bus that only records: which topics a composition root subscribes to, what it publishes.

For contract tests that build a service's `create_app` without a broker; nothing is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warden_bus.port import Handler, SubscriptionOptions
from warden_contracts.envelope import Envelope


@dataclass
class RecordingBus:
    identity: str
    subscriptions: list[str] = field(default_factory=list)
    published: list[Envelope] = field(default_factory=list)

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        self.subscriptions.append(topic)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def healthy(self) -> bool:
        return True
