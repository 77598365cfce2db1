"""Alert rules: episodes fire once, resolve with the same id, and render the common alert schema."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from warden_contracts.catalog import default_catalog
from warden_sandbox.adapters.estate_file import load_estate
from warden_sandbox.domain.monitor import Monitor
from warden_sandbox.domain.world import World

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World(load_estate(None, T0), rng=Random(7), catalog=default_catalog())


def _ids() -> itertools.count:
    return itertools.count(1)


def _monitor(deliver: bool = True) -> Monitor:
    counter = itertools.count(1)
    return Monitor(deliver=deliver, new_uuid=lambda: f"00000000-0000-0000-0000-{next(counter):012d}")


def _step(world: World, monitor: Monitor, now: datetime, n: int = 1) -> tuple[datetime, list]:
    found = []
    for _ in range(n):
        now += timedelta(seconds=0.5)
        world.tick(now)
        found += monitor.evaluate(world.views(), now)
    return now, found


def test_quiet_estate_raises_no_alert(world: World) -> None:
    monitor = _monitor()
    _, found = _step(world, monitor, T0, 50)
    assert found == [] and not monitor.outbox


def test_bad_deploy_fires_once_then_resolves_with_the_same_id(world: World) -> None:
    monitor = _monitor()
    world.inject_fault("checkout-api", "bad_deploy", {"version": "v2.4.1"}, now=T0)
    now, fired = _step(world, monitor, T0, 5)
    assert [(t.service, t.rule, t.condition) for t in fired] == [("checkout-api", "high_5xx", "Fired")]
    world.rollback_deployment("checkout-api", "v2.4.0", now=now)
    now, resolved = _step(world, monitor, now, 3)
    assert [(t.rule, t.condition) for t in resolved] == [("high_5xx", "Resolved")]
    assert resolved[0].alert_id == fired[0].alert_id
    assert [p["data"]["essentials"]["monitorCondition"] for p in monitor.outbox] == ["Fired", "Resolved"]
    assert [h["condition"] for h in monitor.history] == ["Fired", "Resolved"]


def test_payload_follows_the_common_alert_schema(world: World) -> None:
    monitor = _monitor()
    world.inject_fault("checkout-api", "memory_leak", {}, now=T0)
    _, found = _step(world, monitor, T0, 12)
    payload = next(t.payload for t in found if t.rule == "high_memory")
    assert payload["schemaId"] == "azureMonitorCommonAlertSchema"
    ess = payload["data"]["essentials"]
    assert ess["alertId"] == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
        "Microsoft.AlertsManagement/alerts/00000000-0000-0000-0000-000000000001"
    )
    assert ess["alertRule"] == "High memory usage"
    assert ess["severity"] == "Sev2" and ess["signalType"] == "Metric"
    assert ess["monitorCondition"] == "Fired" and "resolvedDateTime" not in ess
    assert ess["alertTargetIDs"] == [world.get("checkout-api").resource_id]
    assert ess["alertTargetIDs"][0].endswith("/resourceGroups/rg-shop-dev/providers/Microsoft.Web/sites/checkout-api")
    assert ess["configurationItems"] == ["checkout-api"]
    assert ess["firedDateTime"].endswith("Z")
    assert ess["essentialsVersion"] == "1.0" and ess["alertContextVersion"] == "1.0"
    context = payload["data"]["alertContext"]
    assert context["conditionType"] == "SingleResourceMultipleMetricCriteria"
    criterion = context["condition"]["allOf"][0]
    assert criterion["metricName"] == "memory_pct"
    assert criterion["metricNamespace"] == "Microsoft.Web/sites"
    assert criterion["operator"] == "GreaterThanOrEqual" and criterion["threshold"] == "85"
    assert criterion["metricValue"] >= 85
    assert payload["data"]["customProperties"] == {"service": "checkout-api", "environment": "dev"}


@pytest.mark.parametrize(
    ("service", "kind", "params", "rule", "severity"),
    [
        ("orders-worker", "queue_backlog", {}, "Queue backlog", "Sev2"),
        ("web-frontend", "crash_loop", {}, "Health check failing", "Sev1"),
        ("cache-redis", "disk_pressure", {}, "Disk pressure", "Sev2"),
        ("payments-api", "cert_expiring", {}, "Certificate expiring", "Sev3"),
    ],
)
def test_each_rule_fires_for_its_fault(
    world: World, service: str, kind: str, params: dict, rule: str, severity: str
) -> None:
    monitor = _monitor()
    world.inject_fault(service, kind, params, now=T0)
    _, found = _step(world, monitor, T0, 20)
    rules = {
        (t.payload["data"]["essentials"]["alertRule"], t.payload["data"]["essentials"]["severity"])
        for t in found
        if t.service == service
    }
    assert (rule, severity) in rules


def test_without_webhook_transitions_are_recorded_but_not_queued(world: World) -> None:
    monitor = _monitor(deliver=False)
    world.inject_fault("web-frontend", "crash_loop", {}, now=T0)
    _, found = _step(world, monitor, T0, 2)
    assert [t.condition for t in found] == ["Fired"]
    assert not monitor.outbox
    assert monitor.history[-1]["rule"] == "health_check"


def test_open_episodes_and_outbox_survive_a_restore(world: World) -> None:
    monitor = _monitor()
    world.inject_fault("web-frontend", "crash_loop", {}, now=T0)
    now, fired = _step(world, monitor, T0, 2)
    restored = _monitor()
    restored.restore(monitor.to_dict())
    assert list(restored.outbox) == list(monitor.outbox)
    world.clear_faults("web-frontend", now=now)
    _, resolved = _step(world, restored, now, 1)
    assert [t.condition for t in resolved] == ["Resolved"]
    assert resolved[0].alert_id == fired[0].alert_id
