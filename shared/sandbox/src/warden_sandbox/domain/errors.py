"""Domain errors; the HTTP adapter maps each to a status code (404 / 422)."""

from __future__ import annotations


class SandboxError(Exception):
    pass


class UnknownService(SandboxError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown service {name!r}")
        self.name = name


class UnknownAction(SandboxError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown action kind {kind!r}")
        self.kind = kind


class InvalidParams(SandboxError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
