"""Buses of the identities the component tests publish and consume as, on the embedded server;
each test starts the ones it uses, and every one is stopped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from warden_bus.nats_bus import NatsBus
from warden_testkit.bus import EmbeddedBroker


@pytest.fixture
async def buses(broker: EmbeddedBroker) -> AsyncIterator[dict[str, NatsBus]]:
    made = {name: broker.bus(name) for name in ("ingest", "triage", "planner")}
    yield made
    for bus in made.values():
        await bus.stop()
