"""Operator controls the executor obeys: the kill switch (global or per target pattern)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from warden_contracts.events import ControlChanged, ControlKind

GLOBAL_SCOPE = "global"
_OFF = {"off", "false", "0", "disengaged", "disabled", "released"}


def kill_switch_engaged(value: str) -> bool:
    # Fail safe: anything that is not clearly "off" engages the switch.
    return value.strip().lower() not in _OFF


@dataclass(frozen=True)
class KillSwitch:
    scope: str
    engaged: bool
    changed_at: datetime
    changed_by: str
    reason: str = ""

    def covers(self, target: str | None) -> bool:
        if self.scope == GLOBAL_SCOPE:
            return True
        return target is not None and fnmatch.fnmatchcase(target, self.scope)


def kill_switch_from(change: ControlChanged, at: datetime) -> KillSwitch | None:
    if change.kind is not ControlKind.KILL_SWITCH:
        return None
    return KillSwitch(
        scope=change.scope or GLOBAL_SCOPE,
        engaged=kill_switch_engaged(change.value),
        changed_at=at,
        changed_by=change.changed_by,
        reason=change.reason,
    )


def blocking(switches: list[KillSwitch], target: str | None) -> KillSwitch | None:
    """The engaged switch that blocks `target` (None: any global switch), if any."""
    return next((s for s in switches if s.engaged and s.covers(target)), None)


class ControlStore(Protocol):
    async def kill_switches(self) -> list[KillSwitch]: ...

    async def save_kill_switch(self, switch: KillSwitch) -> bool:
        """Store unless a newer change for the same scope is already stored; True if stored."""


async def kill_switch_reason(store: ControlStore, target: str | None) -> str | None:
    switch = blocking(await store.kill_switches(), target)
    if switch is None:
        return None
    where = "" if switch.scope == GLOBAL_SCOPE else f" for {switch.scope}"
    return f"kill switch on{where} (set by {switch.changed_by})"
