"""Doorbell -> elevate -> drain -> release; serialised, kill-switch aware, retried when cut short."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from warden_bus.port import RetryLater
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ActionPending, ControlChanged, ControlKind
from warden_executor.domain.doorbell import NOT_ELEVATING, DrainCoordinator, action_budget_s
from warden_executor.domain.model import ElevationUnavailable
from warden_executor.handlers import Handlers


def test_budget_covers_the_longest_verification_plus_calls():
    assert action_budget_s(default_catalog()) == 30 + 15


def test_ttl_shorter_than_one_action_is_refused_at_startup(
    elevation, source, executor, controls, clock, journal, ledger
):
    with pytest.raises(ValueError, match="cannot cover one action"):
        DrainCoordinator(
            journal=journal,
            ledger=ledger,
            elevation=elevation,
            source=source,
            executor=executor,
            controls=controls,
            clock=clock,
            ttl_s=40,
            action_budget_s=45,
        )


async def test_doorbell_elevates_drains_everything_and_releases(coordinator, elevation, source, policy, publisher, kit):
    source.queue += [
        kit.approved(policy.action()),
        kit.approved(policy.action("renew_certificate", "payments", tier=2)),
    ]

    result = await coordinator.on_doorbell("act-1")

    assert (result.elevated, result.handled, result.retry) == (True, 2, None)
    assert elevation.justifications == ["action act-1 (doorbell)"] and elevation.ttl_seen == [120]
    assert elevation.released == [result.grant_id] and elevation.active == 0
    assert set(source.grants) == {result.grant_id}
    assert publisher.statuses() == ["started", "verified", "started", "verified"]


async def test_doorbell_on_an_empty_queue_drains_nothing(coordinator, elevation, publisher):
    result = await coordinator.on_doorbell("act-1")

    assert (result.elevated, result.handled, result.detail) == (True, 0, "queue empty")
    assert len(elevation.released) == 1 and publisher.published == []


async def test_kill_switch_means_no_elevation_at_all(coordinator, elevation, controls, source, policy, kit):
    controls.engage()
    source.queue.append(kit.approved(policy.action()))

    result = await coordinator.on_doorbell("act-1")

    assert (result.elevated, result.detail) == (False, NOT_ELEVATING)
    assert elevation.justifications == [] and len(source.queue) == 1


async def test_target_scoped_kill_switch_does_not_stop_elevation(coordinator, elevation, controls):
    controls.engage("checkout")

    assert (await coordinator.on_doorbell("act-1")).elevated
    assert len(elevation.justifications) == 1


async def test_elevation_failure_is_reported_for_retry(coordinator, elevation):
    elevation.refuse = "authority unreachable"

    with pytest.raises(ElevationUnavailable, match="authority unreachable"):
        await coordinator.on_doorbell("act-1")


async def test_concurrent_doorbells_never_hold_two_grants(coordinator, elevation, source, policy, kit):
    source.queue += [kit.approved(policy.action()) for _ in range(3)]

    results = await asyncio.gather(*(coordinator.on_doorbell(f"act-{n}") for n in range(3)))

    assert elevation.max_active == 1
    assert sorted(r.handled for r in results) == [0, 0, 3]
    assert len(elevation.released) == 3


async def test_failed_action_releases_the_grant_and_asks_for_another_doorbell(
    coordinator, elevation, source, policy, publisher, kit
):
    async def broker_down(envelope):
        raise TimeoutError("no PubAck")

    publisher.publish = broker_down
    source.queue.append(kit.approved(policy.action()))

    result = await coordinator.on_doorbell("act-1")

    assert result.retry is not None and "no PubAck" in result.retry
    assert elevation.active == 0 and len(source.queue) == 1


async def test_grant_too_short_for_another_action_stops_and_asks_again(coordinator, source, clock, policy, kit):
    source.queue += [kit.approved(policy.action()) for _ in range(2)]

    async def slow_first(envelope, grant, _original=coordinator._executor.handle):
        await _original(envelope, grant)
        await clock.sleep(80)  # the first action used up most of the grant

    coordinator._executor.handle = slow_first

    result = await coordinator.on_doorbell("act-1")

    assert result.handled == 1 and "re-elevating" in result.retry
    assert len(source.queue) == 1


async def test_handlers_translate_outcomes_for_the_bus(coordinator, elevation, controls, kit):
    counts: list[str] = []
    handlers = Handlers(coordinator, controls, counts.append)
    bell = envelope_for(
        "sre.action.pending.v1", ActionPending(action_id="act-9"), source="warden/policy", correlationid="inc-9"
    )

    await handlers.on_doorbell(bell)
    elevation.refuse = "down"
    with pytest.raises(RetryLater, match="elevation failed: down"):
        await handlers.on_doorbell(bell)

    assert counts == ["doorbells", "elevations", "doorbells", "elevation_failures"]


async def test_control_changes_apply_newest_first(coordinator, controls, kit):
    handlers = Handlers(coordinator, controls, lambda _: None)

    def change(value, minutes):
        env = envelope_for(
            "sre.control.changed.v1",
            ControlChanged(kind=ControlKind.KILL_SWITCH, value=value, changed_by="operator:bob"),
            source="warden/operator",
            correlationid="ops",
        )
        return env.model_copy(update={"time": kit.START + timedelta(minutes=minutes)})

    await handlers.on_control(change("on", 2))
    await handlers.on_control(change("off", 1))  # older, redelivered late: ignored
    assert controls.switches["global"].engaged

    await handlers.on_control(change("off", 3))
    assert not controls.switches["global"].engaged

    await handlers.on_control(change("maybe", 4))  # unclear means engaged (fail safe)
    assert controls.switches["global"].engaged
