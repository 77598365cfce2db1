"""`warden shadow report` and `warden autonomy`: audit-derived evidence, control events on a real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_contracts.events import ControlChanged, ControlKind, ProposedAction
from warden_testkit.audit_story import AuditStory
from warden_testkit.bus import EmbeddedBroker

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PLAN = "memory-pressure-nonprod"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def shadowed(story: AuditStory, n: int, human_kind: str | None) -> None:
    """The agent would have restarted svc-n; a human then approved `human_kind` (or nothing)."""
    inc, svc, base = f"inc-{n}", f"svc-{n}", n * 1000
    await story.alert(f"a-{n}", svc, at(base))
    await story.incident(inc, svc, "opened", at(base + 1), at(base), [f"a-{n}"])
    await story.plan(inc, f"shadow-{n}", "restart_service", svc, at(base + 10))
    await story.decided(inc, f"shadow-{n}", "restart_service", svc, "shadowed", at(base + 11), plan=PLAN)
    if human_kind is None:
        return
    act = f"human-{n}"
    action = ProposedAction(action_id=act, kind=human_kind, target=svc, params={}, rationale="r", confidence=1)
    await story.approval(inc, f"ap-{n}", action, at(base + 20))
    await story.approval_decided(inc, f"ap-{n}", "approve", at(base + 30))
    await story.decided(inc, act, human_kind, svc, "approved", at(base + 31), plan=PLAN)
    await story.report(inc, act, human_kind, svc, "started", at(base + 32))
    await story.report(inc, act, human_kind, svc, "verified", at(base + 40))


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    """A data directory whose audit log holds four shadowed decisions: 2 same, 1 different, 1 none."""

    async def write() -> None:
        async with AuditStory(tmp_path / "nats" / "audit") as story:
            await shadowed(story, 1, "restart_service")
            await shadowed(story, 2, "restart_service")
            await shadowed(story, 3, "scale_service")
            await shadowed(story, 4, None)

    asyncio.run(write())
    return tmp_path / "nats"


def test_shadow_report_compares_with_what_humans_did(stack_dir: Path) -> None:
    result = CliRunner().invoke(app, ["shadow", "report", "--data-dir", str(stack_dir), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["totals"] == {"same": 2, "different": 1, "none": 1}
    by_incident = {d["incident_id"]: d for d in body["decisions"]}
    assert by_incident["inc-3"]["verdict"] == "different"
    assert by_incident["inc-3"]["humans_did"] == ["scale_service on svc-3"]
    assert by_incident["inc-1"]["would"] == "restart_service on svc-1"
    text = CliRunner().invoke(app, ["shadow", "report", "--data-dir", str(stack_dir)])
    assert "4 shadow decision(s): 2 same, 1 different, 1 with no human action" in text.output
    other = CliRunner().invoke(app, ["shadow", "report", "--data-dir", str(stack_dir), "--plan", "error-rate"])
    assert "no shadow-mode decisions among 0 incident(s)" in other.output


async def test_promotion_is_refused_without_evidence_and_published_with_it(
    broker: EmbeddedBroker, stack_dir: Path
) -> None:
    layout = Layout(stack_dir)
    layout.write_stack({"nats_url": broker.url})
    runner = CliRunner()

    # One in four shadowed cases differed: above the 20% bar for shadow -> review.
    def promote(*extra: str) -> object:
        return runner.invoke(app, ["autonomy", "promote", PLAN, "--data-dir", str(stack_dir), "--by", "carol", *extra])

    await asyncio.to_thread(
        runner.invoke, app, ["autonomy", "demote", PLAN, "--data-dir", str(stack_dir), "--by", "carol"]
    )
    [demoted] = await broker.wait_for("sre.control.changed.v1", count=1)
    control = demoted.payload(ControlChanged)
    assert (control.kind, control.value, control.scope) == (ControlKind.PLAN_RUN_MODE, "review", f"plan:{PLAN}")
    assert control.changed_by == "carol" and "autonomous -> review" in control.reason
    assert "evidence: 4 incidents" in control.reason
    # The audit log does not know about the demotion (no audit service here): record it as audit would.
    async with AuditStory(stack_dir / "audit") as story:
        await story.control(ControlKind.PLAN_RUN_MODE, "shadow", f"plan:{PLAN}", at(9000))

    refused = await asyncio.to_thread(promote)
    assert refused.exit_code == 1  # type: ignore[attr-defined]
    assert "humans did something different in 1 of 4" in refused.output  # type: ignore[attr-defined]
    forced = await asyncio.to_thread(promote, "--force", "--reason", "pilot")
    assert forced.exit_code == 0, forced.output  # type: ignore[attr-defined]
    found = await broker.wait_for("sre.control.changed.v1", count=2)
    last = found[-1].payload(ControlChanged)
    assert last.value == "review" and "shadow -> review: pilot" in last.reason and "FORCED past" in last.reason


def test_status_shows_mode_origin_and_evidence(stack_dir: Path) -> None:
    result = CliRunner().invoke(app, ["autonomy", "status", PLAN, "--data-dir", str(stack_dir)])
    assert result.exit_code == 0, result.output
    assert f"plan {PLAN}: autonomous (configured); 4 incident(s)" in result.output
    assert "2 same, 1 different, 1 none" in result.output
