"""Loads the policy configuration: YAML files shipped in the package, or from an override dir."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warden_policy.domain.config import Approvers, PolicyConfig, ResponsePlans
from warden_policy.domain.placement import Inventory, InventoryFile

RESPONSE_PLANS = "response_plans.yaml"
APPROVERS = "approvers.yaml"
# Optional, and never shipped: the estate's inventory, written by `warden up` from warden.yaml.
SERVICES = "services.yaml"


class ConfigError(ValueError):
    pass


def _read(config_dir: Path | None, name: str) -> tuple[str, Any]:
    if config_dir is not None:
        path = config_dir / name
        if not path.is_file():
            raise ConfigError(f"policy config file missing: {path}")
        return str(path), yaml.safe_load(path.read_text())
    packaged = resources.files("warden_policy").joinpath("config", name)
    return f"warden_policy/config/{name}", yaml.safe_load(packaged.read_text())


def load_policy_config(config_dir: Path | None = None) -> PolicyConfig:
    """Validated at start-up: an invalid file stops the service rather than weakening the gate."""
    plans_origin, plans = _read(config_dir, RESPONSE_PLANS)
    approvers_origin, approvers = _read(config_dir, APPROVERS)
    try:
        return PolicyConfig(
            plans=ResponsePlans.model_validate(plans or {}),
            approvers=Approvers.model_validate(approvers or {}),
            inventory=_inventory(config_dir),
        )
    except ValidationError as err:
        raise ConfigError(f"invalid policy config ({plans_origin}, {approvers_origin}): {err}") from err


def _inventory(config_dir: Path | None) -> Inventory | None:
    path = config_dir / SERVICES if config_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return InventoryFile.model_validate(yaml.safe_load(path.read_text()) or {}).inventory()
    except ValidationError as err:
        raise ConfigError(f"invalid policy config ({path}): {err}") from err
