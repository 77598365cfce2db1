"""The tables of the authority's state file (`<data_dir>/state/elevation.db`), as numbered
migrations of `warden_persistence`. Every store of that file that opens it through the kit runs
this one list, whichever opens first; a table added later is a new migration appended here."""

from __future__ import annotations

from warden_persistence import Migration

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

# Files made before the migrations were numbered already hold both tables: both are no-ops there.
MIGRATIONS = (Migration(1, TICKETS), Migration(2, GRANTS))
