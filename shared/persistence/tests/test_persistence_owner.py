"""DatabaseOwner: the store's database exists between open() and close(), and only then."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_persistence import DatabaseOwner, Migration, open_database


class NotesStore(DatabaseOwner):
    store_name = "notes store"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> None:
        self._db = await open_database(None, self.path, [Migration(1, "CREATE TABLE notes (text TEXT)")])


async def test_db_is_there_between_open_and_close_only(tmp_path: Path) -> None:
    store = NotesStore(tmp_path / "notes.db")
    with pytest.raises(RuntimeError, match="notes store is not open"):
        _ = store.db
    await store.open()
    async with store.db.transaction() as s:
        await s.execute("INSERT INTO notes VALUES (?)", ("kept",))
    async with store.db.read() as s:
        assert await s.one("SELECT text FROM notes") == ("kept",)
    await store.close()
    await store.close()  # a second stop is harmless
    with pytest.raises(RuntimeError, match="notes store is not open"):
        _ = store.db
