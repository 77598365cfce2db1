"""Task definitions: what runs, when (cron, UTC), and what kind of investigation it asks for.

Run modes are not set here: the policy's `scheduled_tasks:` config is the one place that says
whether a task's proposals run autonomously or wait for review (read-only tasks default to
autonomous there), so a task file can never widen what the agent may do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TaskKind = Literal["health_check", "cost_report", "cert_expiry"]


class TaskDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    cron: str  # five fields (minute precision) or six (a trailing seconds field)
    kind: TaskKind
    description: str = ""
    # A read-only task only reports; a task that may propose actions says so explicitly.
    read_only: bool = True
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    def fires_between(self, after: datetime, until: datetime, keep: int) -> tuple[list[datetime], int]:
        """Scheduled times in (after, until], oldest first: the newest `keep` of them, and how many there were."""
        it = croniter(self.cron, after)
        fires: list[datetime] = []
        total = 0
        while True:
            moment: datetime = it.get_next(datetime)
            if moment > until:
                return fires, total
            total += 1
            fires.append(moment)
            if len(fires) > keep:
                fires.pop(0)  # keep the newest: the last one is the run, the rest are reported

    def next_fire(self, after: datetime) -> datetime:
        moment: datetime = croniter(self.cron, after).get_next(datetime)
        return moment


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> TaskFile:
        names = [t.name for t in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"task names must be unique: {', '.join(duplicates)}")
        return self

    def enabled(self) -> list[TaskDefinition]:
        return [t for t in self.tasks if t.enabled]
