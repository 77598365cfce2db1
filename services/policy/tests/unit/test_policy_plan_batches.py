"""The plans' handler is a batch handler (so NATS consumes plans through the bus's own pull loop)
that still handles one plan at a time, in order, each finished before the next starts."""

from __future__ import annotations

import asyncio

from warden_bus.port import BatchHandler
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending
from warden_policy.handlers import OneByOne


def _env(action_id: str) -> Envelope:
    return envelope_for(
        "sre.action.pending.v1", ActionPending(action_id=action_id), source="warden/test", correlationid="inc-1"
    )


async def test_policy_plan_batches_are_handled_one_at_a_time_in_order() -> None:
    events: list[str] = []

    async def handle(env: Envelope) -> None:
        events.append(f"start {env.data['action_id']}")
        await asyncio.sleep(0)  # another plan of the batch would start here if they ran together
        events.append(f"end {env.data['action_id']}")

    handler = OneByOne(handle)
    assert isinstance(handler, BatchHandler)
    await handler.handle_batch([_env("a"), _env("b")])
    await handler(_env("c"))
    assert events == ["start a", "end a", "start b", "end b", "start c", "end c"]
