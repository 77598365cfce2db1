"""Run modes, access levels and the operator controls every decision consults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from warden_contracts.events import ControlKind

GLOBAL_SCOPE = "global"
SCOPE_PREFIXES = ("environment:", "target:")


class RunMode(StrEnum):
    REVIEW = "review"
    AUTONOMOUS = "autonomous"


class AccessLevel(StrEnum):
    READER = "reader"
    PRIVILEGED = "privileged"


class InvalidControl(ValueError):
    pass


@dataclass(frozen=True)
class ControlSetting:
    kind: str
    scope: str
    value: str
    changed_by: str


POLICY_CONTROLS = (ControlKind.KILL_SWITCH, ControlKind.ACCESS_LEVEL)


def parse_control(kind: ControlKind, value: str, scope: str, changed_by: str) -> ControlSetting | None:
    """None for controls other services apply; a policy control it cannot honour exactly is an error."""
    if kind not in POLICY_CONTROLS:
        return None
    if scope != GLOBAL_SCOPE and not (scope.startswith(SCOPE_PREFIXES) and scope.split(":", 1)[1]):
        raise InvalidControl(f"unsupported scope {scope!r}: use global, environment:<env> or target:<target>")
    normalised = value.strip().lower()
    if kind is ControlKind.KILL_SWITCH and normalised not in ("on", "off"):
        raise InvalidControl(f"kill_switch value must be on or off, got {value!r}")
    if kind is ControlKind.ACCESS_LEVEL and normalised not in tuple(AccessLevel):
        raise InvalidControl(f"access_level value must be reader or privileged, got {value!r}")
    return ControlSetting(kind=kind.value, scope=scope, value=normalised, changed_by=changed_by)


@dataclass(frozen=True)
class Controls:
    kill_switch: bool = False
    access_level: AccessLevel = AccessLevel.PRIVILEGED


def effective_controls(
    stored: Mapping[tuple[str, str], str], *, environment: str, target: str, default_access: AccessLevel
) -> Controls:
    """Global, environment and target scopes all apply; the most restrictive setting wins."""
    scopes = (GLOBAL_SCOPE, f"environment:{environment}", f"target:{target}")
    kill = any(stored.get((ControlKind.KILL_SWITCH.value, s)) == "on" for s in scopes)
    levels = [stored.get((ControlKind.ACCESS_LEVEL.value, s)) for s in scopes]
    explicit = [AccessLevel(level) for level in levels if level is not None]
    if AccessLevel.READER in explicit:
        access = AccessLevel.READER
    elif explicit:
        access = AccessLevel.PRIVILEGED
    else:
        access = default_access
    return Controls(kill_switch=kill, access_level=access)
