"""Read one of triage's YAML configuration files: the shipped default or an operator's override."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def load_yaml_file(
    path: Path | None, *, shipped: str, what: str, error: type[Exception], parse: Callable[[Any], T]
) -> T:
    """Parse the file with `parse`; every failure raises `error` naming the file, so a bad file stops the start-up."""
    if path is None:
        text = resources.files("warden_triage").joinpath(shipped).read_text(encoding="utf-8")
        origin = f"warden_triage/{shipped}"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise error(f"cannot read {what} {path}: {err}") from None
        origin = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise error(f"{origin} is not valid YAML: {err}") from None
    try:
        return parse(document)
    except error as err:
        raise error(f"{origin}: {err}") from None
