"""Where an action's target lives, by the estate (warden.yaml), not by what a plan says.

Every plan carries an environment, set upstream from the estate or, for a resource the estate does
not map, from the alert itself. The gate does not take that on trust: given the estate's inventory,
a mapped target is in the environment the estate gives it, and a target the estate does not map is
`unknown` whatever the alert stated — treated as production by the policy (Review pinned, tier 2
needs two approvers), never as dev. Without an inventory (policy run with no estate) the plan's
environment stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

UNKNOWN = "unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InventoryService(_Strict):
    name: str = Field(min_length=1)
    environment: Literal["dev", "staging", "prod"]


@dataclass(frozen=True)
class Placement:
    environment: str
    # Why the gate's environment is not the plan's; empty when they agree.
    reason: str = ""


@dataclass(frozen=True)
class Inventory:
    """The estate's services and their environments."""

    environments: Mapping[str, str]

    def place(self, target: str, stated: str) -> Placement:
        known = self.environments.get(target)
        if known is None:
            if stated == UNKNOWN:
                return Placement(UNKNOWN)
            return Placement(
                UNKNOWN,
                f"estate: {target} is not in warden.yaml (unmapped resource): environment unknown, "
                f"not {stated!r} as the plan says",
            )
        if known != stated:
            return Placement(known, f"estate: {target} is {known} in warden.yaml, not {stated!r} as the plan says")
        return Placement(stated)


class InventoryFile(_Strict):
    """Policy's `services.yaml`, derived from warden.yaml by `warden up`."""

    services: list[InventoryService] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> InventoryFile:
        names = [s.name for s in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"service names must be unique: {duplicates}")
        return self

    def inventory(self) -> Inventory:
        return Inventory({s.name: s.environment for s in self.services})


def place(inventory: Inventory | None, target: str, stated: str) -> Placement:
    return inventory.place(target, stated) if inventory is not None else Placement(stated)
