"""Load the task definitions from YAML (the packaged defaults, or a file named in the settings)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from warden_scheduler.domain.tasks import TaskFile


class TaskFileError(ValueError):
    pass


def load_tasks(path: Path | None = None) -> TaskFile:
    where = str(path) if path else "warden_scheduler/tasks.yaml"
    text = path.read_text() if path else resources.files("warden_scheduler").joinpath("tasks.yaml").read_text()
    try:
        return TaskFile.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as err:
        raise TaskFileError(f"{where}: {err}") from None
