"""Every composition root takes its replaceable components as one typed ports dataclass.

Keyword overrides name Settings fields only: a component passed the old way (`bus=...`) or a
misspelt setting is a TypeError naming it, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest

PORTS = {
    "warden_triage.app": "TriagePorts",
    "warden_planner.app": "PlannerPorts",
    "warden_executor.app": "ExecutorPorts",
    "warden_elevation.app": "ElevationPorts",
    "warden_scheduler.app": "SchedulerPorts",
    "warden_audit.app": "AuditPorts",
    "warden_policy.app": "PolicyPorts",
    "warden_console.app": "ConsolePorts",
    "warden_sandbox.app": "SandboxPorts",
}


@pytest.mark.parametrize("module", PORTS)
def test_ports_are_a_frozen_dataclass_whose_fields_default_to_the_production_build(module: str) -> None:
    ports = getattr(importlib.import_module(module), PORTS[module])
    assert dataclasses.is_dataclass(ports) and ports.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert all(f.default is None for f in dataclasses.fields(ports))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ports().clock = None


@pytest.mark.parametrize("module", PORTS)
def test_a_component_passed_as_a_keyword_is_a_type_error_naming_it(module: str) -> None:
    app = importlib.import_module(module)
    with pytest.raises(TypeError, match=r"unknown overrides: \['clock', 'not_a_setting'\]"):
        app.create_app(clock=object(), not_a_setting=1)
