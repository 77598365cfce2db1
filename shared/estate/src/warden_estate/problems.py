"""Problems found in an estate file, each with the file, the line and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}\n    fix: {self.fix}"


class EstateInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Lines:
    """Line (1-based) of each path in the document; a missing path takes its nearest parent's."""

    def __init__(self) -> None:
        self._lines: dict[PathKey, int] = {(): 1}

    def record(self, path: PathKey, line: int) -> None:
        self._lines.setdefault(path, line)

    def of(self, path: Iterable[str | int]) -> int:
        key = tuple(path)
        while key and key not in self._lines:
            key = key[:-1]
        return self._lines.get(key, 1)
