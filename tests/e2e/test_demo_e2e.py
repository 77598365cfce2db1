"""The demo path through the real embedded stack (`warden up`'s launcher): all four incidents end
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


async def test_demo_runs_every_scenario_end_to_end(tmp_path: Path) -> None:
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
    # Review: a tier-2 rollback in production, approved by two leads with verified identities.
    approved = [d for d in payments.of_type("sre.policy.decided.v1") if d["outcome"] == "approved"]
    assert approved and approved[0]["approvers"] == ["bob", "dave"]
    assert payments.reports("verified")[0]["kind"] == "rollback_deployment"
    # Tier 2 under an Autonomous plan still waited for a lead's approval.
    frontend = views["web-frontend"]
    gated = [d for d in frontend.of_type("sre.policy.decided.v1") if d["outcome"] == "await_approval"]
    assert gated and gated[0]["run_mode"] == "autonomous" and gated[0]["tier"] == 2
    approved = [d for d in frontend.of_type("sre.policy.decided.v1") if d["outcome"] == "approved"]
    assert approved[0]["approvers"] == ["bob"] and frontend.reports("verified")[0]["kind"] == "renew_certificate"
    # Timeout: the deadline expired, nothing was signed or run, and a P1 carries the evidence.
    backlog = views["orders-worker"]
    assert "expired" in [d["outcome"] for d in backlog.of_type("sre.policy.decided.v1")]
    assert backlog.of_type("sre.action.approved.v1") == [] and backlog.reports() == []
    p1 = [e for e in backlog.of_type("sre.escalation.raised.v1") if e["priority"] == "P1"]
    assert p1 and p1[0]["evidence"]

    verify = subprocess.run(
        [sys.executable, "-m", "warden_cli", "audit", "verify", "--data-dir", str(layout.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert "audit log OK" in verify.stdout
