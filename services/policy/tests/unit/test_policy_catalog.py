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
