"""`warden kpi` over incidents written through the real audit recorder."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_audit.reader import read_records
from warden_cli.kpi import parse_moment, report
from warden_cli.kpi_report import render_html
from warden_cli.main import app
from warden_contracts.events import ControlKind, ProposedAction
from warden_testkit.audit_story import AuditStory

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(seconds: float, day: int = 0) -> datetime:
    return T0 + timedelta(days=day, seconds=seconds)


async def autonomous_fix(story: AuditStory, n: int, day: int = 0, rolled_back: bool = False) -> None:
    inc, svc, act = f"inc-{n}", f"svc-{n}", f"act-{n}"
    await story.alert(f"a-{n}", svc, at(0, day))
    await story.alert(f"a-{n}-dup", svc, at(5, day))
    await story.incident(inc, svc, "opened", at(1, day), at(0, day), [f"a-{n}", f"a-{n}-dup"])
    await story.plan(inc, act, "restart_service", svc, at(10, day))
    await story.decided(inc, act, "restart_service", svc, "execute", at(11, day), plan="memory-pressure-nonprod")
    await story.report(inc, act, "restart_service", svc, "started", at(12, day))
    await story.report(inc, act, "restart_service", svc, "succeeded", at(20, day))
    if rolled_back:
        await story.report(inc, act, "restart_service", svc, "rolled_back", at(40, day))
        return
    await story.report(inc, act, "restart_service", svc, "verified", at(30, day))
    await story.incident(inc, svc, "resolved", at(60, day), at(0, day), [f"a-{n}", f"a-{n}-dup"])


async def denied_then_escalated(story: AuditStory, n: int) -> None:
    inc, svc, act = f"inc-{n}", f"svc-{n}", f"act-{n}"
    await story.alert(f"a-{n}", svc, at(0))
    await story.incident(inc, svc, "opened", at(2), at(0), [f"a-{n}"])
    await story.plan(inc, act, "rollback_deployment", svc, at(20))
    action = ProposedAction(
        action_id=act, kind="rollback_deployment", target=svc, params={}, rationale="r", confidence=1
    )
    await story.approval(inc, f"ap-{n}", action, at(21))
    await story.approval_decided(inc, f"ap-{n}", "deny", at(50))
    await story.decided(inc, act, "rollback_deployment", svc, "denied", at(51))
    await story.escalation(inc, at(52))
    await story.control(ControlKind.INCIDENT_OWNER, "bob", f"incident:{inc}", at(60))


@pytest.fixture
async def audit_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    async with AuditStory(directory) as story:
        await autonomous_fix(story, 1)
        await autonomous_fix(story, 2, rolled_back=True)
        await denied_then_escalated(story, 3)
        await autonomous_fix(story, 4, day=1)
    return directory


def test_kpis_follow_their_definitions(audit_dir: Path) -> None:
    result = report(read_records(audit_dir), until=at(0, day=1))
    kpis = {k.key: k for k in result.kpis}
    assert [f.incident_id for f in result.incidents] == ["inc-1", "inc-2", "inc-3"]
    # Acknowledged by the plan: 10 s, 10 s, 20 s after the first alert fired.
    assert kpis["time_to_acknowledge_s"].value == 10.0
    # First useful: the restarts that then succeeded, from their start (12 s), and the handoff (52 s).
    assert kpis["time_to_first_useful_action_s"].value == 12.0
    # Mitigated: inc-1 verified at 30 s; inc-2 never (rolled back), inc-3 never.
    assert kpis["time_to_mitigate_s"].value == 30.0
    assert "n=1 of 3" in kpis["time_to_mitigate_s"].detail
    assert kpis["autonomous_share"].value == pytest.approx(1 / 3)
    assert kpis["false_remediation_rate"].value == pytest.approx(1 / 2)
    assert kpis["escalation_precision"].value == 1.0  # a human then took over
    assert kpis["human_override_rate"].value == pytest.approx(1 / 3)
    assert kpis["alert_to_incident_compression"].value == pytest.approx(5 / 3)


def test_an_incident_that_comes_back_counts_as_false_remediation(tmp_path: Path) -> None:
    async def write() -> None:
        async with AuditStory(tmp_path / "audit") as story:
            await autonomous_fix(story, 1)
            # Same service, same fingerprint, ten minutes after the fix resolved it.
            svc = "svc-1"
            await story.alert("again", svc, at(660))
            await story.incident("inc-again", svc, "opened", at(661), at(660), ["again"])

    asyncio.run(write())
    facts = {f.incident_id: f for f in report(read_records(tmp_path / "audit")).incidents}
    assert facts["inc-1"].reopened and facts["inc-1"].false_remediation
    assert not facts["inc-again"].reopened


def test_parse_moment_accepts_iso_and_spans() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_moment("24h", lambda: now) == now - timedelta(hours=24)
    assert parse_moment("2w", lambda: now) == now - timedelta(weeks=2)
    assert parse_moment("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_moment(None) is None


def test_html_report_is_self_contained_with_svg_plots(audit_dir: Path) -> None:
    html = render_html(report(read_records(audit_dir)))
    assert html.count("<svg") == 2
    assert "Time to first useful action" in html and "inc-4" in html
    # No external assets: no scripts, stylesheets or images fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html


def test_cli_prints_table_json_and_writes_html(audit_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "kpi.html"
    table = runner.invoke(app, ["kpi", "--audit-dir", str(audit_dir), "--html", str(out)])
    assert table.exit_code == 0, table.output
    assert "4 incident(s)" in table.output and "Handled autonomously" in table.output and "50%" in table.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    ranged = runner.invoke(
        app, ["kpi", "--audit-dir", str(audit_dir), "--json", "--since", "2026-11-21", "--until", "2026-11-22"]
    )
    assert ranged.exit_code == 0, ranged.output
    body = json.loads(ranged.output)
    assert body["incidents"] == 1
    assert {k["key"]: k["value"] for k in body["kpis"]}["autonomous_share"] == 1.0
    bad = runner.invoke(app, ["kpi", "--audit-dir", str(audit_dir), "--since", "yesterday-ish"])
    assert bad.exit_code != 0 and "neither an ISO time" in bad.output


def test_prometheus_exposition(audit_dir: Path) -> None:
    result = CliRunner().invoke(app, ["kpi", "--audit-dir", str(audit_dir), "--prometheus", "--until", "2026-11-21"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "warden_kpi_incidents 3" in lines
    assert 'warden_kpi_time_to_acknowledge_seconds{quantile="0.5"} 10.0' in lines
    assert "warden_kpi_alert_to_incident_compression 1.6666666666666667" in lines
    assert all(line.startswith("#") or line.startswith("warden_kpi_") for line in lines)
