"""Run modes, access levels and the operator controls every decision consults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from warden_contracts.events import ControlKind

GLOBAL_SCOPE = "global"
# "env:" is the spelling ControlKind documents for freezes; both name an environment scope.
SCOPE_PREFIXES = ("environment:", "env:", "target:", "plan:", "task:", "incident:")
NO_OWNER = ("", "none", "off")


class RunMode(StrEnum):
    REVIEW = "review"
    AUTONOMOUS = "autonomous"
    # Decide and record what would have happened; never execute and never ask a human.
    SHADOW = "shadow"


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


ON_OFF = (ControlKind.KILL_SWITCH, ControlKind.ADVISORY, ControlKind.FREEZE, ControlKind.SHADOW)
ALLOWED_SCOPES: dict[ControlKind, tuple[str, ...]] = {
    ControlKind.KILL_SWITCH: ("global", "environment:", "env:", "target:"),
    ControlKind.ACCESS_LEVEL: ("global", "environment:", "env:", "target:"),
    ControlKind.ADVISORY: ("global", "environment:", "env:", "target:"),
    ControlKind.FREEZE: ("global", "environment:", "env:", "target:"),
    ControlKind.MODE: ("global",),
    ControlKind.SHADOW: ("global", "plan:", "task:"),
    ControlKind.PLAN_RUN_MODE: ("plan:", "task:"),
    ControlKind.INCIDENT_OWNER: ("incident:",),
}


def _scope_ok(kind: ControlKind, scope: str) -> bool:
    allowed = ALLOWED_SCOPES[kind]
    if scope == GLOBAL_SCOPE:
        return GLOBAL_SCOPE in allowed
    prefix, _, name = scope.partition(":")
    return bool(name) and f"{prefix}:" in allowed


def _normalise_scope(scope: str) -> str:
    return "environment:" + scope.removeprefix("env:") if scope.startswith("env:") else scope


def _value_problem(kind: ControlKind, value: str) -> str | None:
    if kind in ON_OFF and value not in ("on", "off"):
        return "on or off"
    if kind is ControlKind.ACCESS_LEVEL and value not in tuple(AccessLevel):
        return "reader or privileged"
    if kind is ControlKind.MODE and value not in (RunMode.REVIEW, RunMode.AUTONOMOUS):
        return "review or autonomous"
    if kind is ControlKind.PLAN_RUN_MODE and value not in tuple(RunMode):
        return "shadow, review or autonomous"
    return None


def parse_control(kind: ControlKind, value: str, scope: str, changed_by: str) -> ControlSetting:
    """Every ControlKind binds the gate; a control it cannot honour exactly is an error, never ignored."""
    if not _scope_ok(kind, scope):
        raise InvalidControl(f"{kind.value}: unsupported scope {scope!r}; allowed: {', '.join(ALLOWED_SCOPES[kind])}")
    normalised = value.strip() if kind is ControlKind.INCIDENT_OWNER else value.strip().lower()
    problem = _value_problem(kind, normalised)
    if problem:
        raise InvalidControl(f"{kind.value} value must be {problem}, got {value!r}")
    return ControlSetting(kind=kind.value, scope=_normalise_scope(scope), value=normalised, changed_by=changed_by)


@dataclass(frozen=True)
class Controls:
    kill_switch: bool = False
    access_level: AccessLevel = AccessLevel.PRIVILEGED
    advisory: bool = False
    frozen: bool = False
    # Scopes ("global", "plan:<name>", "task:<name>") where shadow mode is on.
    shadow_scopes: frozenset[str] = frozenset()
    # Run modes operators set at run time per "plan:<name>" / "task:<name>" (progressive autonomy).
    plan_run_modes: Mapping[str, RunMode] = field(default_factory=dict)
    # Agent-level default run mode set at run time (ControlKind.MODE), if any.
    default_run_mode: RunMode | None = None
    incident_owner: str | None = None

    def run_mode_for(self, plan_scope: str) -> RunMode | None:
        return self.plan_run_modes.get(plan_scope) if plan_scope else None

    def shadowed(self, plan_scope: str) -> bool:
        return GLOBAL_SCOPE in self.shadow_scopes or (bool(plan_scope) and plan_scope in self.shadow_scopes)


@dataclass(frozen=True)
class Scope:
    """Where a decision applies: resource controls are looked up at every scope naming it."""

    environment: str
    target: str
    incident_id: str = ""

    def resources(self) -> tuple[str, ...]:
        return (GLOBAL_SCOPE, f"environment:{self.environment}", f"target:{self.target}")


def effective_controls(stored: Mapping[tuple[str, str], str], scope: Scope, default_access: AccessLevel) -> Controls:
    """Global, environment and target scopes all apply; the most restrictive setting wins."""

    def on(kind: ControlKind) -> bool:
        return any(stored.get((kind.value, s)) == "on" for s in scope.resources())

    levels = [stored.get((ControlKind.ACCESS_LEVEL.value, s)) for s in scope.resources()]
    explicit = [AccessLevel(level) for level in levels if level is not None]
    if AccessLevel.READER in explicit:
        access = AccessLevel.READER
    elif explicit:
        access = AccessLevel.PRIVILEGED
    else:
        access = default_access
    default_mode = stored.get((ControlKind.MODE.value, GLOBAL_SCOPE))
    owner = stored.get((ControlKind.INCIDENT_OWNER.value, f"incident:{scope.incident_id}"))
    return Controls(
        kill_switch=on(ControlKind.KILL_SWITCH),
        access_level=access,
        advisory=on(ControlKind.ADVISORY),
        frozen=on(ControlKind.FREEZE),
        shadow_scopes=frozenset(s for (k, s), v in stored.items() if k == ControlKind.SHADOW.value and v == "on"),
        plan_run_modes={s: RunMode(v) for (k, s), v in stored.items() if k == ControlKind.PLAN_RUN_MODE.value},
        default_run_mode=RunMode(default_mode) if default_mode else None,
        incident_owner=owner if owner and owner.lower() not in NO_OWNER else None,
    )
