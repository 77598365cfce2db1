"""Fixtures shared by every test package: a real embedded NATS server per test, the in-memory bus
for component tests of handler logic, console passwords hashed at argon2's test profile (warden_testkit.passwords)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from warden_testkit.bus import EmbeddedBroker, embedded_broker
from warden_testkit.memory_bus import MemoryBroker
from warden_testkit.passwords import cheap_password_hashing

# `warden up` listens on the estate's fixed ports; every test that starts one (in this process or a
# child) asks for free ports instead, so parallel test runs on one machine never collide.
os.environ.setdefault("WARDEN_RANDOM_PORTS", "1")


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    async with embedded_broker(tmp_path / "nats") as b:
        yield b


@pytest.fixture
def memory_broker() -> MemoryBroker:
    """The in-memory bus for component tests of handler logic (warden_testkit.memory_bus)."""
    return MemoryBroker()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    # `warden up`/`cluster up` and a service's runtime set umask 077 for their process; run
    # in-process by a test, that would leak into every later test's files.
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)
