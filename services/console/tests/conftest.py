"""Fixtures for console tests: the console on a real embedded NATS server (the chat channels on the
in-memory bus), signed-in HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.chat import ChatDoubles, chat_settings
from warden_testkit.console import Browser, Console, start_console
from warden_testkit.memory_bus import MemoryBroker


@pytest.fixture
async def console(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Console]:
    c = await start_console(broker, tmp_path / "data", operator_creds=broker.creds("operator"))
    yield c
    await c.runtime.stop()


@pytest.fixture
async def browser_for(console: Console) -> AsyncIterator[Callable[[], Browser]]:
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(console.url))
        return made[-1]

    yield make
    for b in made:
        await b.close()


@pytest.fixture
async def chat_doubles() -> AsyncIterator[ChatDoubles]:
    doubles = await ChatDoubles().start()
    yield doubles
    await doubles.stop()


@pytest.fixture
async def chat_console(
    memory_broker: MemoryBroker, tmp_path: Path, chat_doubles: ChatDoubles
) -> AsyncIterator[Console]:
    # The chat tests are about Teams and Slack (their signatures, tokens and cards), not the broker:
    # the in-memory bus. The console's own NATS wiring is test_console_web's.
    c = await start_console(memory_broker, tmp_path / "chat", **chat_settings(chat_doubles))
    yield c
    await c.runtime.stop()
