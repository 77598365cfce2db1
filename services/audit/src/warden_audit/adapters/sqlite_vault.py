"""The personal-data vault on SQLite beside the local log: values by reference, erasable.

Written with `synchronous=FULL` before the chain record that points at it is appended, so a
record never references a value that was not durable first.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warden_persistence import connect_sqlite

VAULT_FILE = "personal.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS personal (
    ref TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    principal TEXT,
    value TEXT,
    salt BLOB,
    stored_at TEXT NOT NULL,
    erased_at TEXT
);
CREATE INDEX IF NOT EXISTS personal_principal ON personal(principal);
"""


def vault_path(audit_dir: Path) -> Path:
    return audit_dir / VAULT_FILE


class SqliteVault:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one connection, used from worker threads in turn
        # The kit's opener: a 0600 file, WAL, synchronous=FULL, busy timeout.
        self._db = connect_sqlite(path)
        self._db.execute("PRAGMA secure_delete=ON")  # erased values are overwritten, not just unlinked
        self._db.executescript(_SCHEMA)

    @classmethod
    def for_log(cls, audit_dir: Path) -> SqliteVault:
        return cls(vault_path(audit_dir))

    def put(self, ref: str, value: Any, *, principal: str | None, message_id: str) -> bytes:
        with self._lock:
            row = self._db.execute("SELECT salt FROM personal WHERE ref = ?", (ref,)).fetchone()
            if row is not None:
                return bytes(row[0] or b"")
            salt = os.urandom(16)
            self._db.execute(
                "INSERT INTO personal(ref, message_id, principal, value, salt, stored_at) VALUES (?, ?, ?, ?, ?, ?)",
                (ref, message_id, principal, json.dumps(value), salt, _now()),
            )
            return salt

    def get(self, ref: str) -> tuple[Any, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value, salt FROM personal WHERE ref = ? AND erased_at IS NULL", (ref,)
            ).fetchone()
        return None if row is None else (json.loads(row[0]), bytes(row[1]))

    def erase(self, *, principal: str | None = None, ref: str | None = None) -> int:
        """Forget values (and salts) of one principal or one reference; returns how many."""
        if (principal is None) == (ref is None):
            raise ValueError("erase by exactly one of principal or ref")
        column, key = ("principal", principal) if principal is not None else ("ref", ref)
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE personal SET value = NULL, salt = NULL, erased_at = ? "  # noqa: S608 - column is ours
                f"WHERE {column} = ? AND erased_at IS NULL",
                (_now(), key),
            )
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no copy of the value left in the WAL
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()
