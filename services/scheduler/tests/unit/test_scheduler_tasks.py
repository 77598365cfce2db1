"""Task definitions: cron validation, fire times, the packaged defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_scheduler.adapters.task_file import TaskFileError, load_tasks
from warden_scheduler.domain.tasks import TaskDefinition

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_fires_between_keeps_the_newest_and_counts_all() -> None:
    task = TaskDefinition(name="t", cron="*/10 * * * *", kind="health_check")
    fires, total = task.fires_between(T0, T0.replace(hour=7), keep=3)
    assert total == 6
    assert fires == [T0.replace(minute=40), T0.replace(minute=50), T0.replace(hour=7)]
    assert task.fires_between(T0, T0.replace(minute=9), keep=3) == ([], 0)


def test_seconds_field_is_supported() -> None:
    task = TaskDefinition(name="fast", cron="* * * * * */5", kind="health_check")
    assert task.next_fire(T0) == T0.replace(second=5)


def test_packaged_tasks_cover_the_three_kinds() -> None:
    tasks = {t.name: t for t in load_tasks().enabled()}
    assert {t.kind for t in tasks.values()} == {"health_check", "cost_report", "cert_expiry"}
    assert tasks["daily-health-report"].read_only
    assert not tasks["weekly-cert-renewal"].read_only


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tasks: [{name: a, cron: 'every day', kind: health_check}]", "not a valid cron"),
        ("tasks: [{name: a, cron: '* * * * *', kind: reboot_all}]", "kind"),
        (
            "tasks: [{name: a, cron: '* * * * *', kind: health_check},"
            " {name: a, cron: '0 * * * *', kind: cost_report}]",
            "unique",
        ),
        ("tasks: [{name: a, cron: '* * * * *', kind: health_check, run_as: root}]", "run_as"),
        ("tasks: [", "tasks.yaml"),
    ],
)
def test_bad_task_files_are_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(body)
    with pytest.raises(TaskFileError, match=message):
        load_tasks(path)
