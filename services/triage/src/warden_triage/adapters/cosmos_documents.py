"""A unit of work over one Cosmos DB container: reads see this transaction's own staged writes,
and commit writes each logical partition with one transactional batch (all or nothing), using
the ETag of every document it read as an `If-Match` precondition and `create` for new ones.

A concurrent writer therefore makes the batch fail (412 / 409) instead of being overwritten; the
caller's transaction raises, the bus redelivers the message, and it is recomputed on fresh state.
Cosmos DB has no transaction across partitions: a unit spanning several partitions commits them
one after another, the partition given as `last` at the end (it holds the processed marker).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

Key = tuple[str, str]  # (partition key, id)
MAX_BATCH_OPERATIONS = 100


def _matches(doc: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    return all(doc.get(field) == value for field, value in where.items())


class UnitOfWork:
    def __init__(self, container: ContainerProxy) -> None:
        self._container = container
        self._read: dict[Key, dict[str, Any]] = {}  # as read, with _etag
        self._staged: dict[Key, dict[str, Any] | None] = {}  # None: delete

    def _remember(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._read.setdefault((doc["pk"], doc["id"]), doc)
        return doc

    async def get(self, pk: str, doc_id: str) -> dict[str, Any] | None:
        if (pk, doc_id) in self._staged:
            return self._staged[(pk, doc_id)]
        try:
            return self._remember(dict(await self._container.read_item(doc_id, partition_key=pk)))
        except CosmosResourceNotFoundError:
            return None

    async def query(self, where: Mapping[str, Any], *, pk: str | None = None) -> list[dict[str, Any]]:
        """Documents whose fields equal `where`, this unit's staged writes applied."""
        names = sorted(where)
        if not all(n.isidentifier() for n in names):
            raise ValueError(f"field names must be identifiers: {names}")
        # Field names are identifiers from this code; every value travels as a query parameter.
        query = "SELECT * FROM c WHERE " + " AND ".join(f"c.{n} = @{n}" for n in names)  # noqa: S608
        params: list[dict[str, object]] = [{"name": f"@{n}", "value": where[n]} for n in names]
        found: dict[Key, dict[str, Any]] = {}
        async for doc in self._container.query_items(query, parameters=params, partition_key=pk):
            found[(doc["pk"], doc["id"])] = self._remember(dict(doc))
        for key, staged in self._staged.items():
            found.pop(key, None)
            if staged is not None and _matches(staged, where) and (pk is None or key[0] == pk):
                found[key] = staged
        return list(found.values())

    def put(self, doc: dict[str, Any]) -> None:
        self._staged[(doc["pk"], doc["id"])] = {k: v for k, v in doc.items() if not k.startswith("_")}

    def delete(self, pk: str, doc_id: str) -> None:
        self._staged[(pk, doc_id)] = None

    @property
    def partitions(self) -> list[str]:
        return sorted({pk for pk, _ in self._staged})

    def _operations(self, pk: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        ops: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for (p, doc_id), doc in self._staged.items():
            if p != pk:
                continue
            before = self._read.get((p, doc_id))
            if doc is None:
                if before is not None:
                    ops.append(("delete", (doc_id,), {"if_match_etag": before["_etag"]}))
            elif before is None:
                ops.append(("create", (doc,), {}))
            else:
                ops.append(("replace", (doc_id, doc), {"if_match_etag": before["_etag"]}))
        return ops

    async def commit(self, last: str | None = None) -> None:
        order = [p for p in self.partitions if p != last] + ([last] if last in self.partitions else [])
        for pk in order:
            ops = self._operations(pk)
            if len(ops) > MAX_BATCH_OPERATIONS:
                raise ValueError(f"{len(ops)} changes in partition {pk!r} exceed one transactional batch")
            if ops:
                await self._container.execute_item_batch(ops, partition_key=pk)
        self._staged.clear()
        self._read.clear()
