"""The few SQL differences between SQLite and PostgreSQL, so a store keeps one SQL body.

Stores write `?` placeholders and standard `INSERT ... ON CONFLICT` (SQLite >= 3.24 has it too);
the dialect turns the placeholders into psycopg's and says what differs: row locks, and whatever
a store picks with `pick` (a JSON array expansion, an identity column)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

T = TypeVar("T")


@lru_cache(maxsize=1024)
def _pyformat(text: str) -> str:
    # Our SQL has no `?` inside literals; a literal `%` must reach psycopg doubled.
    return text.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True)
class Dialect:
    name: Literal["sqlite", "postgres"]
    # Appended to a SELECT that reads rows the transaction will change: on SQLite the write
    # transaction (BEGIN IMMEDIATE) already excludes every other writer.
    for_update: str

    def sql(self, text: str) -> str:
        """The statement with this driver's placeholders (`?` for sqlite3, `%s` for psycopg)."""
        return _pyformat(text) if self.name == "postgres" else text

    def pick(self, *, sqlite: T, postgres: T) -> T:
        return sqlite if self.name == "sqlite" else postgres

    @staticmethod
    def upsert(table: str, columns: Sequence[str], key: Sequence[str], update: Sequence[str] | None = None) -> str:
        """INSERT of every column that replaces the non-key columns (or `update`) on a key conflict."""
        changed = [c for c in columns if c not in key] if update is None else list(update)
        marks = ", ".join("?" * len(columns))
        sets = ", ".join(f"{c} = excluded.{c}" for c in changed)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        # Names come from the store's own constants; values always go through placeholders.
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) {action}"  # noqa: S608

    @staticmethod
    def insert_ignore(table: str, columns: Sequence[str]) -> str:
        """INSERT that does nothing when any unique key is taken (rowcount 0 then)."""
        marks = ", ".join("?" * len(columns))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608


SQLITE = Dialect("sqlite", for_update="")
POSTGRES = Dialect("postgres", for_update=" FOR UPDATE")
