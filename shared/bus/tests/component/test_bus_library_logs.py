"""FastStream's records reach the process's JSON handler uncoloured, and the builtin TimeoutError
nats-py raises from an idle `fetch` (FastStream's task supervisor restarts the pull loop) is one
DEBUG line, not an ERROR with a traceback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from warden_bus.library_logs import BROKER_LOGGER
from warden_bus.nats_bus import NatsBus
from warden_bus.runtime import JsonFormatter
from warden_contracts.envelope import Envelope
from warden_testkit.bus import EmbeddedBroker


@pytest.fixture
def json_root() -> Iterator[io.StringIO]:
    """The root handler `configure_logging` installs, writing to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("policy"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


# What nats-py's `_fetch_n` raises when an idle pull's deadline passes. Two raising places:
# FastStream's supervisor logs one exception (line, message, class) only once per process.
async def _idle_timeout() -> None:
    raise TimeoutError


async def _idle_timeout_again() -> None:
    raise TimeoutError


async def _broken() -> None:
    raise RuntimeError("a real failure")


async def _nothing(envelope: Envelope) -> None:
    pass


async def _run_supervised(bus: NatsBus, task: object) -> None:
    subscriber = bus.broker.subscribers[0]
    subscriber.add_task(task, restart_on_failure=False)  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)  # the done-callback (FastStream's supervisor) runs


def _records(out: io.StringIO) -> list[dict[str, object]]:
    text = out.getvalue()
    assert "\x1b[" not in text
    return [json.loads(line) for line in text.splitlines()]


async def test_an_idle_fetch_timeout_is_no_error_and_a_real_failure_still_is(
    broker: EmbeddedBroker, json_root: io.StringIO
) -> None:
    bus = broker.bus("policy")
    bus.subscribe("sre.plan.proposed.v1", _nothing)
    await bus.start()
    try:
        await _run_supervised(bus, _idle_timeout)
        assert [r for r in _records(json_root) if r["level"] != "DEBUG"] == []

        logging.getLogger(BROKER_LOGGER).setLevel(logging.DEBUG)
        await _run_supervised(bus, _idle_timeout_again)
        idle = [r for r in _records(json_root) if r["logger"] == BROKER_LOGGER]
        assert {r["level"] for r in idle} == {"DEBUG"}
        assert any(r["msg"] == "idle pull fetch timed out; the pull loop restarts" for r in idle)
        assert not any("exc" in r for r in idle)
        logging.getLogger(BROKER_LOGGER).setLevel(logging.NOTSET)

        await _run_supervised(bus, _broken)
        errors = [r for r in _records(json_root) if r["level"] == "ERROR"]
        assert len(errors) == 1 and "RuntimeError: a real failure" in str(errors[0]["exc"])
    finally:
        await bus.stop()


async def test_faststream_loggers_have_no_handler_of_their_own(broker: EmbeddedBroker) -> None:
    bus = broker.bus("policy")
    bus.subscribe("sre.plan.proposed.v1", _nothing)
    await bus.start()
    try:
        faststream = [
            logging.getLogger(n) for n in logging.Logger.manager.loggerDict if n.split(".")[0] == "faststream"
        ]
        assert faststream, "FastStream made no logger at all: this test checks nothing"
        assert all(lg.handlers == [] and lg.propagate for lg in faststream)
    finally:
        await bus.stop()
