"""Fixtures shared by every test package: a real embedded NATS server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from warden_bus.testing import EmbeddedBroker, embedded_broker


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    async with embedded_broker(tmp_path / "nats") as b:
        yield b
