"""Chooses the state store from settings: SQLite embedded by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from warden_persistence import backend_of

from warden_policy.adapters.postgres_store import PostgresStateStore
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.ports import StateStore


def open_store(url: str | None, data_dir: Path) -> StateStore:
    """`postgresql://user@host/db?schema=name` (schema `public` when it names none, where policy
    has always kept its tables) or None (SQLite under `<data_dir>/state/`)."""
    try:
        backend = backend_of(url)
    except ValueError as err:
        raise ValueError(f"unsupported policy store URL: {err}") from None
    if backend == "sqlite":
        return SqliteStateStore(data_dir / "state" / "policy.db")
    assert url is not None
    return PostgresStateStore(url)
