"""`IncidentStore` on PostgreSQL, for several triage replicas sharing one database: the SQL store
(`sql_store`, whose docstring says how replicas are kept from opening two incidents for one
fingerprint or applying a message twice) on a `postgresql://...?schema=name` URL."""

from __future__ import annotations

from warden_persistence import split_schema

from warden_triage.adapters.sql_store import SqlIncidentStore


class PostgresIncidentStore(SqlIncidentStore):
    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        split_schema(url)  # a URL that is not postgresql:// fails here, not at open
        super().__init__(url, pool_size=pool_size)
