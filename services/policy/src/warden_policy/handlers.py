"""Thin handlers: envelope in -> use case -> envelopes out through the outbox relay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from warden_bus.port import Bus
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope
from warden_contracts.events import IncidentChanged, IncidentState

from warden_policy.approval_desk import ApprovalDesk
from warden_policy.envelopes import DECIDED
from warden_policy.operations import Operations
from warden_policy.plan_gate import PlanGate
from warden_policy.relay import Relay

UseCase = Callable[[Envelope], Awaitable[list[Envelope]]]


class OneByOne:
    """A handler the bus may also give whole pull batches (`warden_bus.port.BatchHandler`), so on
    NATS the plans come through the bus's own pull loop (`warden_bus.nats_batch`) instead of
    FastStream's per-message machinery (a task group, its middleware and a wrapper call per
    message on the way from the fetch to the gate). The batch is still handled one message at a
    time, each decided, committed and published before the next, exactly once by its id
    (`process_once`): if one fails, the bus settles the batch message by message, and those
    already committed are found done and their stored messages published again (same ids)."""

    def __init__(self, handle: Callable[[Envelope], Awaitable[None]]) -> None:
        self._handle = handle

    async def __call__(self, envelope: Envelope) -> None:
        await self._handle(envelope)

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self._handle(envelope)


class PolicyHandlers:
    def __init__(
        self, *, gate: PlanGate, desk: ApprovalDesk, ops: Operations, relay: Relay, counters: Counters
    ) -> None:
        self._gate = gate
        self._desk = desk
        self._ops = ops
        self._relay = relay
        self._counters = counters

    def register(self, bus: Bus) -> None:
        bus.subscribe("sre.plan.proposed.v1", OneByOne(self._run("plans", self._gate.handle)))
        bus.subscribe("sre.approval.decided.v1", self._run("approval_decisions", self._desk.decide))
        bus.subscribe("sre.incident.changed.v1", self._run("incident_changes", self._incident_changed))
        bus.subscribe("sre.action.reported.v1", self._run("action_reports", self._ops.action_reported))
        bus.subscribe("sre.control.changed.v1", self._run("control_changes", self._ops.control_changed))

    def _run(self, counter: str, use_case: UseCase) -> Callable[[Envelope], Awaitable[None]]:
        async def handle(env: Envelope) -> None:
            await self._relay.send(await use_case(env))
            self._counters.inc(counter)

        return handle

    async def _incident_changed(self, env: Envelope) -> list[Envelope]:
        if env.payload(IncidentChanged).change is not IncidentState.RESOLVED:
            return []
        return await self._desk.supersede(env)

    async def tick(self) -> None:
        """One pass of the durable deadline and the outbox flush."""
        expired = await self._desk.expire_due()
        await self._relay.send(expired)
        self._counters.inc("approvals_expired", sum(e.type == DECIDED for e in expired))
        await self._relay.flush()
