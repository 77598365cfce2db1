"""Progressive autonomy and shadow mode on the real embedded stack: `warden autonomy demote` walks the
demo's autonomous plan down to shadow through audited control events; the memory leak is then
decided but not acted on, and `warden shadow report` shows the would-be restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from warden_audit.reader import read_records
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_cli.operations import inject_fault

pytestmark = pytest.mark.e2e
PLAN = "memory-pressure-nonprod"


async def wait_record(layout: Layout, match: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(match(r) for r in read_records(layout.audit_dir)):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"no {what} in the audit log within {timeout:.0f}s")


def mode_recorded(value: str) -> Callable[[dict[str, Any]], bool]:
    def match(record: dict[str, Any]) -> bool:
        data = record["envelope"]["data"]
        return (
            record["type"] == "sre.control.changed.v1"
            and data.get("scope") == f"plan:{PLAN}"
            and (data.get("value") == value)
        )

    return match


def shadowed(record: dict[str, Any]) -> bool:
    return record["type"] == "sre.policy.decided.v1" and record["envelope"]["data"]["outcome"] == "shadowed"


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_demote_to_shadow_then_report_the_would_be_action(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "stack")
    stack = EmbeddedStack(layout, StackOptions(tick_s=1.0))
    data = ["--data-dir", str(layout.root)]
    try:
        await stack.start()
        for expected in ("review", "shadow"):
            result = await cli("autonomy", "demote", PLAN, "--by", "carol", "--reason", "pilot", *data)
            assert result.exit_code == 0, result.output
            await wait_record(layout, mode_recorded(expected), f"plan_run_mode {expected}")
        status = await cli("autonomy", "status", PLAN, *data)
        assert f"plan {PLAN}: shadow (set by carol" in status.output

        await inject_fault(layout, "checkout-api", "memory_leak")
        await wait_record(layout, shadowed, "shadowed decision")
        report = await cli("shadow", "report", "--json", *data)
        assert report.exit_code == 0, report.output
        body = json.loads(report.output)
    finally:
        await stack.stop()
    [decision] = body["decisions"]
    assert decision["would"] == "restart_service on checkout-api" and decision["verdict"] == "none"
    assert PLAN in decision["plans"]
    records = list(read_records(layout.audit_dir))
    assert not [r for r in records if r["type"] == "sre.action.reported.v1"], "shadow mode executed something"
