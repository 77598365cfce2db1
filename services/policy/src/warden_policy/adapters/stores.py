"""Chooses the state store from settings: SQLite embedded by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from warden_policy.adapters.postgres_store import PostgresStateStore
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.ports import StateStore

POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(url: str | None, data_dir: Path) -> StateStore:
    """`postgresql://user@host/db?schema=name` or None (SQLite under `<data_dir>/state/`)."""
    if not url:
        return SqliteStateStore(data_dir / "state" / "policy.db")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported policy store URL scheme {parts.scheme!r}: use postgresql://")
    query = parse_qs(parts.query)
    schema = query.pop("schema", ["public"])[0]
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return PostgresStateStore(urlunsplit(parts._replace(query=rest)), schema=schema)
