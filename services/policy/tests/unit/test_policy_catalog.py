"""The action catalog the gate reads: validated at load, so an unsafe entry stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from warden_contracts.catalog import default_catalog, load_catalog


def test_policy_catalog_denies_protected_namespaces_at_any_depth() -> None:
    catalog = default_catalog()
    assert catalog.check("restart_service", "kube-public/metrics", {}) == [
        "target 'kube-public/metrics' is on the do-not-touch list"
    ]
    assert catalog.target_denied("aks-prod/gatekeeper-system/audit")
    assert not catalog.target_denied("checkout-api")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{tier: 1, description: d, reversible: true, blast_radius: b}", "needs a rollback recipe"),
        (
            "{tier: 1, description: d, reversible: false, blast_radius: b, params: {n: {type: int, min: 5, max: 1}}}",
            "min 5 is above max 1",
        ),
        (
            "{tier: 1, description: d, reversible: false, blast_radius: b, params: {v: {type: str, pattern: '(['}}}",
            "unterminated",
        ),
        ("{tier: 4, description: d, reversible: false, blast_radius: b}", "less than or equal to 3"),
    ],
)
def test_policy_catalog_rejects_unsafe_entries(tmp_path: Path, action: str, message: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(f"version: 2\nactions:\n  risky: {action}\n")
    with pytest.raises(ValidationError, match=message):
        load_catalog(path)


def test_policy_catalog_rollback_is_tier_2_and_restart_tier_1() -> None:
    catalog = default_catalog()
    rollback, restart = catalog.get("rollback_deployment"), catalog.get("restart_service")
    assert rollback is not None and rollback.tier == 2
    assert restart is not None and restart.tier == 1


@pytest.mark.parametrize(
    ("view", "still_visible"),
    [
        ({"memory_pct": 91.0, "healthy": 1}, True),  # memory exhaustion
        ({"memory_pct": 40.0, "healthy": 0}, True),  # a failing health check with normal memory
        ({"memory_pct": 95.0, "healthy": 0}, True),
        ({"memory_pct": 40.0, "healthy": 1}, False),  # recovered: nothing a restart would fix
        ({}, False),  # nothing observable: the preflight never passes blind
    ],
)
def test_policy_catalog_restart_preflight_needs_either_problem(view: dict[str, float], still_visible: bool) -> None:
    restart = default_catalog().get("restart_service")
    assert restart is not None and restart.preflight_mode == "any"
    assert (restart.preflight_failures(view) == []) is still_visible


def test_policy_catalog_all_mode_preflight_needs_every_check() -> None:
    rollback = default_catalog().get("rollback_deployment")
    assert rollback is not None and rollback.preflight_mode == "all"
    assert rollback.preflight_failures({"error_rate": 0.2}) == []
    assert [c.metric for c in rollback.preflight_failures({"error_rate": 0.01})] == ["error_rate"]
