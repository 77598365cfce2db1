"""Estate loading (bundled and custom) and the atomic state file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_sandbox.adapters.estate_file import EstateError, load_estate
from warden_sandbox.adapters.state_file import StateFile, StateFileCorrupt

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_bundled_estate_has_the_six_services() -> None:
    services = {s.name: s for s in load_estate(None, T0)}
    assert set(services) == {
        "checkout-api",
        "payments-api",
        "orders-worker",
        "cache-redis",
        "web-frontend",
        "kube-system/coredns",
    }
    checkout = services["checkout-api"]
    assert (checkout.environment, checkout.resource_group) == ("dev", "rg-shop-dev")
    assert checkout.dependencies == ["payments-api", "cache-redis"]
    assert checkout.resource_id == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
        "rg-shop-dev/providers/Microsoft.Web/sites/checkout-api"
    )
    assert [d.version for d in checkout.deployments] == [checkout.previous_version, checkout.version]
    assert services["payments-api"].version == "v3.1.0"
    assert services["payments-api"].environment == "prod"
    assert services["kube-system/coredns"].environment == "prod"
    assert services["web-frontend"].environment == "staging"


def test_custom_estate_path(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(
        "subscription_id: 11111111-1111-1111-1111-111111111111\n"
        "services:\n  - {name: api, environment: test, resource_group: rg-t, version: v1.0.0}\n"
    )
    (svc,) = load_estate(path, T0)
    assert svc.name == "api"
    assert svc.resource_id.startswith("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-t/")


@pytest.mark.parametrize(
    "services",
    [
        "[{name: Api!, environment: t, resource_group: r, version: v1}]",
        "[{name: ns/logs, environment: t, resource_group: r, version: v1}]",
        "[{name: a, environment: t, resource_group: r, version: latest}]",
        "[{name: a, environment: t, resource_group: r, version: v1, dependencies: [ghost]}]",
        "[{name: a, environment: t, resource_group: r, version: v1, colour: red}]",
    ],
)
def test_invalid_estate_is_rejected_with_the_path(tmp_path: Path, services: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"subscription_id: s\nservices: {services}\n")
    with pytest.raises(EstateError, match=str(path)):
        load_estate(path, T0)


def test_state_file_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = StateFile.under(tmp_path)
    assert store.load() is None
    store.save({"a": 1})
    store.save({"a": 2, "b": [1, 2]})
    assert store.load() == {"a": 2, "b": [1, 2]}
    assert store.path == tmp_path / "sandbox" / "world.json"
    assert [p.name for p in store.path.parent.iterdir()] == ["world.json"]


def test_corrupt_state_file_is_an_error_not_a_silent_reset(tmp_path: Path) -> None:
    store = StateFile.under(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"world": ')
    with pytest.raises(StateFileCorrupt):
        store.load()
    store.path.write_text(json.dumps([1, 2]))
    with pytest.raises(StateFileCorrupt):
        store.load()
