"""Two policy replicas on one Cosmos container (the real `azure-cosmos` SDK against the HTTPS
gateway double) claim outbox rows as on SQL: each row goes to one, a released claim is free at
once, and a dead claimer's rows are taken over after its lease."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind
from warden_policy.adapters.cosmos_store import CosmosStateStore
from warden_policy.ports import Changes

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def container(cosmos: Any) -> AsyncIterator[ContainerProxy]:
    async with CosmosClient(cosmos.url, credential=cosmos.credential) as client:
        yield client.get_database_client("warden").get_container_client("policy")


def note(n: int) -> Any:
    change = ControlChanged(kind=ControlKind.KILL_SWITCH, value="off", changed_by="test")
    return envelope_for("sre.control.changed.v1", change, source="warden/policy", correlationid=f"c-{n}")


async def test_two_replicas_claim_each_outbox_row_once_and_take_over_a_lapsed_claim(container: ContainerProxy) -> None:
    a, b = CosmosStateStore(container), CosmosStateStore(container)
    out = [note(1), note(2)]
    await a.apply(Changes(message_id="m1", outbox=out), NOW)
    ids = [e.id for e in out]

    assert [e.id for e in await a.claim_unpublished("policy-a", NOW, NOW, LEASE)] == ids
    assert await b.claim_unpublished("policy-b", NOW, NOW, LEASE) == []  # held by a live claim
    await a.release("policy-a")  # a's publish failed
    assert [e.id for e in await b.claim_unpublished("policy-b", NOW, NOW, LEASE)] == ids

    # b dies holding them: a takes them over once the lease has lapsed, not before.
    assert await a.claim_unpublished("policy-a", NOW, NOW + LEASE / 2, LEASE) == []
    later = NOW + LEASE + timedelta(seconds=1)
    assert [e.id for e in await a.claim_unpublished("policy-a", NOW, later, LEASE)] == ids
    await a.mark_published(ids, later)
    assert await b.claim_unpublished("policy-b", NOW, later + 2 * LEASE, LEASE) == []
