"""`warden incidents` tells a recovered incident apart from an open, escalated or resolved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner
from warden_cli.main import app
from warden_cli.timeline import incidents_from, render

runner = CliRunner()
RECOVERED = "recovered: web-s1 passes its health checks; no action"


def _record(seq: int, topic: str, incident_id: str, **data: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": topic,
        "correlationid": incident_id,
        "envelope": {"time": f"2026-12-02T10:00:{seq:02d}.000Z", "data": {"incident_id": incident_id, **data}},
    }


def _opened(seq: int, incident_id: str, service: str) -> dict[str, Any]:
    return _record(
        seq,
        "sre.incident.changed.v1",
        incident_id,
        change="opened",
        incident_class="failed_health_checks",
        service=service,
        environment="prod",
        alert_count=1,
    )


def _plan(seq: int, incident_id: str, summary: str, outcome: str = "", actions: list[Any] | None = None) -> Any:
    return _record(
        seq,
        "sre.plan.proposed.v1",
        incident_id,
        runbook="failed_health_checks@1",
        summary=summary,
        actions=actions or [],
        outcome=outcome,
    )


def _log(tmp_path: Path) -> Path:
    records = [
        _opened(1, "inc-recovered", "web-s1"),
        _plan(2, "inc-recovered", RECOVERED, "recovered"),
        _opened(3, "inc-open", "api-s2"),
        _plan(
            4,
            "inc-open",
            "unhealthy",
            actions=[{"action_id": "a1", "kind": "restart_service", "params": {}, "confidence": 0.8}],
        ),
        _opened(5, "inc-timed-out", "db-s3"),
        _plan(6, "inc-timed-out", "recovered: db-s3 healthy", "recovered"),
        _record(7, "sre.escalation.raised.v1", "inc-timed-out", priority="P3", reason="still open after 10 min"),
        _opened(8, "inc-closed", "cache-s4"),
        _plan(9, "inc-closed", "recovered: cache-s4 healthy", "recovered"),
        _record(
            10,
            "sre.incident.changed.v1",
            "inc-closed",
            change="resolved",
            incident_class="failed_health_checks",
            service="cache-s4",
            environment="prod",
            alert_count=1,
        ),
    ]
    segments = tmp_path / "data" / "audit" / "segments"
    segments.mkdir(parents=True)
    (segments / "000001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path / "data"


def test_the_listing_shows_recovered_incidents_distinctly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["incidents", "--data-dir", str(_log(tmp_path))])
    assert result.exit_code == 0, result.output
    states = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert states == {
        "inc-recovered": "recovered",
        "inc-open": "open",
        "inc-timed-out": "open",  # the recovery window ran out: handed to a human, no longer "recovered"
        "inc-closed": "resolved",
    }


def test_the_timeline_carries_the_recovery_note(tmp_path: Path) -> None:
    views = incidents_from(
        json.loads(line) for line in (_log(tmp_path) / "audit" / "segments" / "000001.jsonl").read_text().splitlines()
    )
    text = render(views["inc-recovered"])
    assert "state: recovered" in text and f"  recovered: {RECOVERED}" in text
    assert "recovered:" in render(views["inc-closed"])  # resolved, and the note says how it ended
    assert "  recovered:" not in render(views["inc-timed-out"])
