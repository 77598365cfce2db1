"""The sandbox's durable state: one JSON document, replaced atomically.

Write to a temporary file in the same directory, fsync it, `os.replace` it over the old one and
fsync the directory: a crash leaves either the previous or the new state, never a torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class StateFileCorrupt(RuntimeError):
    pass


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def under(cls, data_dir: Path) -> StateFile:
        return cls(data_dir / "sandbox" / "world.json")

    def load(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            # Never start over silently: that would erase injected faults and counters.
            raise StateFileCorrupt(f"{self.path} is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise StateFileCorrupt(f"{self.path} does not hold a JSON object")
        return data

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        payload = json.dumps(state, separators=(",", ":")).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
