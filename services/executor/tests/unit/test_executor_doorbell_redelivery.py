"""A redelivered doorbell asks for a grant only when there is something to drain: its action is not
done yet, or a drain is owed (one stopped early with work left and asked for the redelivery)."""

from __future__ import annotations

import pytest
from warden_bus.port import RetryLater
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ActionPending
from warden_executor.domain.doorbell import DrainCoordinator, action_budget_s
from warden_executor.domain.model import ElevationUnavailable, LedgerState
from warden_executor.handlers import Handlers


def doorbell(action_id: str):
    return envelope_for(
        "sre.action.pending.v1", ActionPending(action_id=action_id), source="warden/policy", correlationid="inc-1"
    )


def coordinator_with(elevation, source, executor, controls, clock, journal, ledger, **options):
    return DrainCoordinator(
        elevation=elevation,
        source=source,
        executor=executor,
        controls=controls,
        clock=clock,
        ttl_s=120,
        action_budget_s=action_budget_s(default_catalog()),
        journal=journal,
        ledger=ledger,
        **options,
    )


async def test_a_redelivered_doorbell_of_a_done_action_asks_for_no_grant(
    coordinator, elevation, controls, source, policy, ledger, journal, kit
):
    first, second = policy.action(), policy.action("scale_service", "orders", {"replicas": 3})
    source.queue += [kit.approved(first), kit.approved(second)]
    counts: list[str] = []
    handlers = Handlers(coordinator, controls, counts.append)

    await handlers.on_doorbell(doorbell(first.action_id))  # drains both; `second` under its own grant
    grants = len(elevation.justifications)
    assert ledger.rows[second.action_id].state is LedgerState.DONE and journal.owing == {}

    await handlers.on_doorbell(doorbell(second.action_id))  # its own doorbell, after the drain took it
    await handlers.on_doorbell(doorbell(first.action_id))  # the broker redelivers the first one

    assert len(elevation.justifications) == grants
    assert counts.count("doorbells_already_done") == 2 and counts.count("elevations") == 1


async def test_a_doorbell_of_an_action_not_done_still_elevates(coordinator, elevation, policy, ledger, executor, kit):
    action = policy.action()
    ledger.rows[action.action_id] = executor._entry(kit.approved(action), action, LedgerState.STARTED)

    result = await coordinator.on_doorbell(action.action_id)

    assert result.elevated and not result.already_done and len(elevation.justifications) == 1


async def test_a_retry_later_redelivery_still_drains_the_remaining_actions(
    elevation, source, executor, controls, clock, journal, ledger, policy, publisher, kit
):
    coordinator = coordinator_with(elevation, source, executor, controls, clock, journal, ledger, max_actions=1)
    handlers = Handlers(coordinator, controls, lambda _: None)
    first, second = policy.action(), policy.action("renew_certificate", "payments", tier=2)
    source.queue += [kit.approved(first), kit.approved(second)]
    bell = doorbell(first.action_id)

    with pytest.raises(RetryLater, match="more may wait"):
        await handlers.on_doorbell(bell)
    assert ledger.rows[first.action_id].state is LedgerState.DONE and second.action_id not in ledger.rows

    # The redelivery RetryLater asked for: the bell's own action is done, but a drain is owed.
    with pytest.raises(RetryLater, match="more may wait"):
        await handlers.on_doorbell(bell)
    assert ledger.rows[second.action_id].state is LedgerState.DONE and source.queue == []

    await handlers.on_doorbell(bell)  # this drain finds the queue empty and pays what was owed
    assert journal.owing == {}
    grants = len(elevation.justifications)

    await handlers.on_doorbell(bell)  # nothing owed any more: no grant
    assert len(elevation.justifications) == grants == 3
    assert publisher.statuses().count("verified") == 2


async def test_a_redelivery_after_a_failed_action_elevates_and_runs_it(
    coordinator, elevation, controls, source, policy, publisher, ledger, journal, kit
):
    first, second = policy.action(), policy.action("scale_service", "orders", {"replicas": 3})
    source.queue += [kit.approved(first), kit.approved(second)]
    publish, failed_once = publisher.publish, []

    async def broker_hiccup(envelope):
        if envelope.data.get("action_id") == second.action_id and not failed_once:
            failed_once.append(envelope)
            raise TimeoutError("no PubAck")
        await publish(envelope)

    publisher.publish = broker_hiccup
    handlers = Handlers(coordinator, controls, lambda _: None)

    with pytest.raises(RetryLater, match="action failed"):
        await handlers.on_doorbell(doorbell(first.action_id))
    assert ledger.rows[first.action_id].state is LedgerState.DONE and journal.owing

    await handlers.on_doorbell(doorbell(first.action_id))

    assert ledger.rows[second.action_id].state is LedgerState.DONE and journal.owing == {}
    assert len(source.queue) == 0


async def test_a_drain_cut_short_by_the_grant_stays_owed(coordinator, source, clock, policy, journal, kit):
    first, second = policy.action(), policy.action()
    source.queue += [kit.approved(first), kit.approved(second)]

    async def slow(envelope, grant, _original=coordinator._executor.handle):
        await _original(envelope, grant)
        await clock.sleep(80)

    coordinator._executor.handle = slow
    result = await coordinator.on_doorbell(first.action_id)
    assert "re-elevating" in (result.retry or "") and journal.owing

    again = await coordinator.on_doorbell(first.action_id)

    assert again.elevated and again.handled == 1 and not again.already_done


async def test_a_drain_that_fails_to_elevate_leaves_no_mark(coordinator, elevation, journal):
    elevation.refuse = "authority unreachable"

    with pytest.raises(Exception, match="authority unreachable"):
        await coordinator.on_doorbell("act-1")

    assert journal.owing == {} and journal.open == {}


def left_open_by_a_killed_drain(state, policy, ledger, executor, journal, kit):
    """The ledger row of the drain's action in `state`, and the drain's journal row still open."""
    action = policy.action()
    ledger.rows[action.action_id] = executor._entry(kit.approved(action), action, state)
    journal.open["drain-left"] = "doorbell of the killed process"
    return action


async def test_a_drain_left_open_without_an_action_is_owed_to_the_doorbell_when_no_grant_binds_to_it(
    coordinator, elevation, journal, ledger, policy, executor, kit
):
    # A process killed after its drain finished the action but before it closed the drain: an
    # authority granting per action (policy tickets) refuses a grant for no action in particular.
    action = left_open_by_a_killed_drain(LedgerState.DONE, policy, ledger, executor, journal, kit)
    elevation.refuse = "no elevation ticket for action (any)"

    result = await coordinator.recover()

    assert result is not None and not result.elevated and "owed" in result.detail
    assert journal.open == {} and "drain-left" in journal.owing  # not retried for ever
    assert await coordinator.recover() is None  # the next start has nothing left to recover

    # The killed drain's doorbell comes back: its action is done, but the owed mark elevates.
    elevation.refuse = None
    redelivered = await coordinator.on_doorbell(action.action_id)
    assert redelivered.elevated and not redelivered.already_done and journal.owing == {}


async def test_an_unfinished_action_keeps_its_drain_open_until_a_grant_comes(
    coordinator, elevation, journal, ledger, policy, executor, kit
):
    action = left_open_by_a_killed_drain(LedgerState.STARTED, policy, ledger, executor, journal, kit)
    elevation.refuse = "authority unreachable"

    with pytest.raises(ElevationUnavailable, match="authority unreachable"):
        await coordinator.recover()
    assert "drain-left" in journal.open  # recovery runs again and finishes the action then

    elevation.refuse = None
    result = await coordinator.recover()
    assert result is not None and result.elevated and journal.open == {}
    assert ledger.rows[action.action_id].state is LedgerState.DONE
