"""`--json` on `warden incidents`, `approvals`, `policy test` and `autonomy status`: one JSON
document on stdout with the keys docs/cli.md lists, read back here by parsing it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from warden_cli.main import app
from warden_contracts.events import DecisionOutcome, PolicyDecided, ProposedAction
from warden_testkit.audit_story import AuditStory

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PLAN = "memory-pressure-nonprod"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two incidents: inc-1 fixed autonomously and resolved; inc-2 open, one approval pending and
    one approved."""

    async def write() -> None:
        async with AuditStory(tmp_path / "audit") as story:
            await story.alert("a-1", "svc-1", at(0))
            await story.incident("inc-1", "svc-1", "opened", at(1), at(0), ["a-1"])
            await story.plan("inc-1", "act-1", "restart_service", "svc-1", at(10))
            await story.decided("inc-1", "act-1", "restart_service", "svc-1", "execute", at(11), plan=PLAN)
            await story.report("inc-1", "act-1", "restart_service", "svc-1", "verified", at(20))
            await story.incident("inc-1", "svc-1", "resolved", at(30), at(0), ["a-1"])
            await story.alert("a-2", "svc-2", at(100))
            await story.incident("inc-2", "svc-2", "opened", at(101), at(100), ["a-2"])
            for n in (1, 2):
                action = ProposedAction(
                    action_id=f"act-2{n}", kind="scale_service", target="svc-2", params={}, rationale="r", confidence=1
                )
                await story.approval("inc-2", f"ap-{n}", action, at(110 + n))
            decided = PolicyDecided(
                incident_id="inc-2",
                action_id="act-22",
                approval_id="ap-2",
                kind="scale_service",
                target="svc-2",
                tier=2,
                run_mode="review",
                outcome=DecisionOutcome.APPROVED,
                reasons=["two approvals"],
                approvers=["alice"],
            )
            await story.write("sre.policy.decided.v1", decided, "inc-2", at(130))

    asyncio.run(write())
    return tmp_path


def _json(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one document


def test_incidents_json(data_dir: Path) -> None:
    body = _json("incidents", "--json", "--data-dir", str(data_dir))
    assert body["count"] == 2
    by_id = {i["incident_id"]: i for i in body["incidents"]}
    one, two = by_id["inc-1"], by_id["inc-2"]
    assert set(one) == {
        "incident_id", "state", "incident_class", "service", "environment", "recovered", "alerts",
        "actions", "pending_approvals", "first_seen", "last_seen", "records",
    }  # fmt: skip
    assert (one["state"], one["service"], one["incident_class"], one["environment"]) == (
        "resolved", "svc-1", "memory_pressure", "dev",
    )  # fmt: skip
    assert (one["alerts"], one["actions"], one["pending_approvals"]) == (1, 1, [])
    assert one["first_seen"].startswith("2026-11-20T10:00:00") and one["last_seen"].startswith("2026-11-20T10:00:30")
    assert (two["state"], two["pending_approvals"]) == ("open", ["ap-1"])
    with_timeline = _json("incidents", "--json", "--timeline", "--data-dir", str(data_dir))
    steps = {i["incident_id"]: i["timeline"] for i in with_timeline["incidents"]}["inc-1"]
    assert [s["type"] for s in steps][:2] == ["sre.alert.received.v1", "sre.incident.changed.v1"]
    assert steps[-1]["text"].startswith("triage     incident resolved")
    assert all(set(s) == {"seq", "time", "type", "text"} for s in steps)


def test_approvals_json(data_dir: Path) -> None:
    for args in (["approvals"], ["approvals", "list"]):
        rows = _json(*args, "--json", "--data-dir", str(data_dir))
        states = {a["approval_id"]: a["state"] for a in rows}
        assert states == {"ap-1": "pending", "ap-2": "approved"}
        assert all(set(row) == {"approval_id", "state", "correlationid", "request"} for row in rows)
        assert rows[0]["request"]["action"]["kind"] == "scale_service"
    pending = _json("approvals", "list", "--pending", "--json", "--data-dir", str(data_dir))
    assert [a["approval_id"] for a in pending] == ["ap-1"]


def test_autonomy_status_json(data_dir: Path) -> None:
    body = _json("autonomy", "status", "--json", "--data-dir", str(data_dir))
    by_plan = {p["plan"]: p for p in body["plans"]}
    plan = by_plan[PLAN]
    assert set(plan) == {"plan", "mode", "origin", "incidents", "kpis", "shadow"}
    assert (plan["mode"], plan["origin"], plan["incidents"]) == ("autonomous", "configured", 1)
    assert plan["shadow"] == {"same": 0, "different": 0, "none": 0}
    assert plan["kpis"]["autonomous_share"]["value"] == 1.0
    assert set(plan["kpis"]["autonomous_share"]) == {"value", "unit", "label", "detail"}
    one = _json("autonomy", "status", PLAN, "--json", "--data-dir", str(data_dir))
    assert [p["plan"] for p in one["plans"]] == [PLAN]


def test_policy_test_json() -> None:
    body = _json("policy", "test", "--json")
    assert set(body) == {"ok", "policy", "cases_file", "passed", "failed", "cases"}
    assert body["ok"] is True and body["failed"] == 0 and body["passed"] == len(body["cases"]) > 0
    assert body["policy"]["policies"] == len(body["policy"]["rule_ids"]) > 0
    case = body["cases"][0]
    assert set(case) == {"name", "passed", "expected", "because", "got", "rules"}
    assert case["got"] == case["expected"]


def test_policy_test_json_reports_a_failing_case(tmp_path: Path) -> None:
    from importlib import resources

    packaged = resources.files("warden_policy").joinpath("cedar")
    for entry in packaged.iterdir():
        if entry.name.endswith((".cedar", ".cedarschema", ".yaml")):
            (tmp_path / entry.name).write_text(entry.read_text())
    cases = (tmp_path / "policy_tests.yaml").read_text()
    assert "\n    expect: allow\n" in cases
    (tmp_path / "policy_tests.yaml").write_text(cases.replace("\n    expect: allow\n", "\n    expect: deny\n", 1))
    result = CliRunner().invoke(app, ["policy", "test", "--json", "--policy-dir", str(tmp_path)])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["failed"] == 1
    assert [c["name"] for c in body["cases"] if not c["passed"]] != []
