"""Planner store fixtures: each store test runs on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from warden_planner.adapters.sql_store import SqlStore
from warden_testkit.postgres import postgres_schema

StoreFactory = Callable[[], SqlStore]


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None (SQLite) or a PostgreSQL URL on a schema of its own, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    async with postgres_schema("planner_test") as url:
        yield url


@pytest.fixture
def make_store(store_url: str | None, tmp_path: Path) -> StoreFactory:
    """Unopened stores on one database: a reopen, or another replica with its own connection."""
    return lambda: SqlStore(tmp_path / "state" / "planner.db", store_url)
