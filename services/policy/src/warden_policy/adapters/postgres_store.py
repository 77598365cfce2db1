"""The policy state store on PostgreSQL, for several policy replicas at once: the SQL store
(`sql_store`, whose docstring says how replicas are kept from deciding one thing twice) on the
persistence kit's pool, in one schema (its own `schema_version`)."""

from __future__ import annotations

from warden_persistence import split_schema

from warden_policy.adapters.sql_store import SqlStateStore


class PostgresStateStore(SqlStateStore):
    def __init__(self, url: str, *, schema: str = "public", pool_size: int = 4) -> None:
        """`url` may name its schema (`?schema=name`); `schema` applies when it does not."""
        self._url, self._schema = split_schema(url, schema)  # not postgresql://: fails here, not at open
        super().__init__(self._url, default_schema=self._schema, pool_size=pool_size)
