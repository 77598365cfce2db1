"""Rendering of the read-only query templates: fixed text, validated parameters, nothing else."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from string import Template
from typing import Any

import yaml

from warden_planner.domain.observer import MAX_LOG_LINES, ObserverError

# Characters that cannot end a PromQL/KQL string literal or start a new clause.
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}(/[a-z0-9][a-z0-9-]{0,62})?$")


@cache
def bundled_templates() -> dict[str, dict[str, str]]:
    raw: dict[str, dict[str, str]] = yaml.safe_load(
        resources.files(__package__).joinpath("query_templates.yaml").read_text()
    )
    return raw


def render(template: str, service: str, limit: int | None = None) -> str:
    if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
        raise ObserverError(f"service name {service!r} is not a valid query parameter")
    values: dict[str, Any] = {"service": service}
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LOG_LINES:
            raise ObserverError(f"limit {limit!r} must be an integer between 1 and {MAX_LOG_LINES}")
        values["limit"] = limit
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as err:
        raise ObserverError(f"query template needs a parameter that was not supplied: {err}") from None
