"""The tables of the authority's state file (`<data_dir>/state/elevation.db`), as numbered
migrations of `warden_persistence`. Every store of that file that opens it through the kit runs
this one list, whichever opens first; a table added later is a new migration appended here."""

from __future__ import annotations

from warden_persistence import Migration, Session, add_missing_columns

TICKETS = """
CREATE TABLE IF NOT EXISTS tickets (
  action_id TEXT PRIMARY KEY,
  principal TEXT NOT NULL,
  not_after TEXT NOT NULL,
  received_at TEXT NOT NULL,
  released_at TEXT,
  body TEXT NOT NULL
)
"""

GRANTS = """
CREATE TABLE IF NOT EXISTS grants (
  grant_id TEXT PRIMARY KEY,
  principal TEXT NOT NULL,
  expires_at REAL NOT NULL,
  justification TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  ticket TEXT NOT NULL
)
"""


async def _grant_announced(session: Session) -> None:
    # A grant is stored before its audit record and marked once that record is out, so a crash in
    # between leaves a row a restart announces; rows from before this column were announced.
    await add_missing_columns(session, "grants", {"announced": "INTEGER NOT NULL DEFAULT 1"})


# Files made before the migrations were numbered already hold both tables: both are no-ops there.
MIGRATIONS = (Migration(1, TICKETS), Migration(2, GRANTS), Migration(3, _grant_announced))
