"""`warden audit export --format ocsf` and `audit verify --json` over a log written by the real recorder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_cli.main import app
from warden_testkit.audit_story import AuditStory

from .test_cli_kpi import autonomous_fix


@pytest.fixture
async def audit_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    async with AuditStory(directory) as story:
        await autonomous_fix(story, 1)
        await autonomous_fix(story, 2)
    return directory


def test_ocsf_export_prints_one_api_activity_event_per_record_of_the_incident(audit_dir: Path) -> None:
    everything = CliRunner().invoke(app, ["audit", "export", "--audit-dir", str(audit_dir)])
    assert everything.exit_code == 0, everything.output
    records = [json.loads(line) for line in everything.output.splitlines()]
    one = CliRunner().invoke(app, ["audit", "export", "inc-1", "--audit-dir", str(audit_dir), "--format", "ocsf"])
    assert one.exit_code == 0, one.output
    events = [json.loads(line) for line in one.output.splitlines()]
    assert 0 < len(events) < len(records)
    for event in events:
        assert event["class_uid"] == 6003 and event["category_uid"] == 6
        assert event["type_uid"] == 6003 * 100 + event["activity_id"]
        assert isinstance(event["time"], int) and event["time"] > 1_600_000_000_000
        assert event["metadata"]["product"]["name"]


def test_export_and_verify_of_a_missing_log_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["audit", "export"], ["audit", "verify", "--json"]):
        result = CliRunner().invoke(app, [*args, "--audit-dir", str(tmp_path / "nowhere")])
        assert result.exit_code == 1
        assert "no audit log at" in result.output and "Traceback" not in result.output


def test_verify_json_names_the_reason_of_a_log_with_no_checkpoint(audit_dir: Path) -> None:
    # The story writes records but never signs a checkpoint: the chain alone proves nothing.
    result = CliRunner().invoke(app, ["audit", "verify", "--json", "--audit-dir", str(audit_dir)])
    assert result.exit_code == 1
    report = json.loads(result.output.splitlines()[-1])
    assert report["ok"] is False and report["reason"] == "no_checkpoint"
    assert report["records"] > 0 and report["checkpoints"] == 0
