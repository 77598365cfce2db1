"""Publishes operator controls under the `operator` broker identity, connected only for the moment an
administrator changes something: the console's standing identity (`approver`) cannot publish them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import Envelope


@dataclass(frozen=True)
class OperatorPublisher:
    nats_url: str
    creds: Path

    async def __call__(self, envelope: Envelope) -> None:
        bus = NatsBus("operator", self.nats_url, self.creds)
        await bus.start()
        try:
            await bus.publish(envelope)
        finally:
            await bus.stop()
