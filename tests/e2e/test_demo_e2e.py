"""The demo path through the real embedded stack (`warden up`'s launcher): both incidents end
as expected, the audit chain verifies, and the CLI's verify command agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from warden_audit.reader import read_records
from warden_cli.demo import run_demo
from warden_cli.layout import Layout
from warden_cli.timeline import incidents_from

pytestmark = pytest.mark.e2e


async def test_demo_runs_both_scenarios_end_to_end(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "stack")
    lines: list[str] = []
    ok = await run_demo(layout, lines.append, timeout=90)
    assert ok, "\n".join(lines)

    views = {v.service: v for v in incidents_from(read_records(layout.audit_dir)).values()}
    checkout, payments = views["checkout-api"], views["payments-api"]
    assert checkout.state == "resolved" and payments.state == "resolved"
    # Autonomous: no approval asked, the executor elevated, acted, verified.
    assert checkout.of_type("sre.approval.requested.v1") == []
    assert [r["status"] for r in checkout.reports()][:1] == ["started"]
    assert checkout.reports("verified")[0]["kind"] == "restart_service"
    elevations = [d["state"] for d in checkout.of_type("sre.elevation.changed.v1")]
    assert "activated" in elevations and "deactivated" in elevations
    # Review: approved by alice with a verified identity, then rolled back to the previous version.
    approved = [d for d in payments.of_type("sre.policy.decided.v1") if d["outcome"] == "approved"]
    assert approved and approved[0]["approvers"] == ["alice"]
    assert payments.reports("verified")[0]["kind"] == "rollback_deployment"

    verify = subprocess.run(
        [sys.executable, "-m", "warden_cli", "audit", "verify", "--data-dir", str(layout.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert "audit log OK" in verify.stdout
