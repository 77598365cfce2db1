"""The executor's idempotency `Ledger` on Cosmos DB (NoSQL API, `azure.cosmos.aio`).

One document per action (`id` = action id) in the `executor` container, partitioned by incident
(`pk` = incident id), so an incident's actions share a logical partition. "Insert if absent" is
`create_item` (409 when the action is already there); every change is read-modify-replace with
the document's ETag (`If-Match`), retried on 412, so two executions racing on one action never
overwrite each other's state.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from warden_executor.domain.model import LedgerEntry, LedgerState

DOC_TYPE = "executor-ledger"
MAX_CONFLICT_RETRIES = 5


class LedgerConflict(RuntimeError):
    """The document kept changing under us; the caller's message is retried by the bus."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def to_document(entry: LedgerEntry) -> dict[str, Any]:
    done = entry.state is LedgerState.DONE
    return {
        "id": entry.action_id,
        "pk": entry.incident_id,
        "type": DOC_TYPE,
        "envelope_id": entry.envelope_id,
        "kind": entry.kind,
        "target": entry.target,
        "state": entry.state.value,
        "outcome": entry.outcome,
        "detail": entry.detail,
        # JSON text, as in the SQLite ledger: parameters and observations may hold any JSON value.
        "before": json.dumps(entry.before, default=str) if entry.before is not None else None,
        "envelope": entry.envelope,
        "announced": entry.announced,
        "observed": json.dumps(entry.observed, default=str) if entry.observed is not None else None,
        "started_at": _now(),
        "finished_at": _now() if done else None,
    }


def _json(text: str | None) -> dict[str, Any] | None:
    value = json.loads(text) if text else None
    return value if isinstance(value, dict) else None


def from_document(doc: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        action_id=doc["id"],
        envelope_id=doc["envelope_id"],
        incident_id=doc["pk"],
        kind=doc["kind"],
        target=doc["target"],
        state=LedgerState(doc["state"]),
        outcome=doc.get("outcome"),
        detail=doc.get("detail") or "",
        before=_json(doc.get("before")),
        envelope=doc.get("envelope"),
        announced=bool(doc.get("announced")),
        observed=_json(doc.get("observed")),
    )


class CosmosLedger:
    def __init__(self, container: ContainerProxy) -> None:
        self._container = container
        # action id -> incident id: fixed for an action's lifetime, saves a cross-partition query.
        self._partitions: dict[str, str] = {}

    async def _find(self, action_id: str) -> dict[str, Any] | None:
        pk = self._partitions.get(action_id)
        if pk is not None:
            try:
                return dict(await self._container.read_item(action_id, partition_key=pk))
            except CosmosResourceNotFoundError:
                return None
        query = "SELECT * FROM c WHERE c.id = @id AND c.type = @type"
        params: list[dict[str, object]] = [{"name": "@id", "value": action_id}, {"name": "@type", "value": DOC_TYPE}]
        async for doc in self._container.query_items(query, parameters=params):
            self._partitions[action_id] = doc["pk"]
            return dict(doc)
        return None

    async def get(self, action_id: str) -> LedgerEntry | None:
        doc = await self._find(action_id)
        return from_document(doc) if doc else None

    async def unfinished(self) -> list[LedgerEntry]:
        query = "SELECT * FROM c WHERE c.type = @type AND c.state = @state"
        params: list[dict[str, object]] = [
            {"name": "@type", "value": DOC_TYPE},
            {"name": "@state", "value": LedgerState.STARTED.value},
        ]
        docs = [dict(d) async for d in self._container.query_items(query, parameters=params)]
        # Sorted here: a cross-partition ORDER BY needs the gateway's query plan for no benefit.
        return [from_document(d) for d in sorted(docs, key=lambda d: d["started_at"])]

    async def _insert(self, entry: LedgerEntry) -> bool:
        try:
            await self._container.create_item(to_document(entry))
        except CosmosResourceExistsError:
            return False
        self._partitions[entry.action_id] = entry.incident_id
        return True

    async def start(self, entry: LedgerEntry) -> bool:
        return await self._insert(entry)

    async def close_unstarted(self, entry: LedgerEntry) -> None:
        await self._insert(entry)

    async def _update(self, action_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            doc = await self._find(action_id)
            if doc is None:
                return  # like an SQL UPDATE of a missing row
            try:
                await self._container.replace_item(
                    action_id, change(doc), etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
                return
            except CosmosAccessConditionFailedError:
                continue
        raise LedgerConflict(f"ledger entry {action_id} changed {MAX_CONFLICT_RETRIES} times while updating")

    async def claim(self, action_id: str) -> LedgerEntry | None:
        # No holder or lease in the Cosmos documents yet: this ledger serves one executor replica,
        # so every `started` row is its own (the PostgreSQL ledger is the one for replicas).
        entry = await self.get(action_id)
        return entry if entry is not None and entry.state is LedgerState.STARTED else None

    async def announce(self, action_id: str, observed: dict[str, Any]) -> bool:
        await self._update(action_id, lambda d: d | {"announced": True, "observed": json.dumps(observed, default=str)})
        return True

    async def record_before(self, action_id: str, before: dict[str, Any]) -> None:
        await self._update(action_id, lambda d: d | {"before": json.dumps(before, default=str)})

    async def finish(self, action_id: str, outcome: str, detail: str) -> None:
        await self._update(
            action_id,
            lambda d: (
                d | {"state": LedgerState.DONE.value, "outcome": outcome, "detail": detail, "finished_at": _now()}
            ),
        )

    async def abandon(self, action_id: str) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            doc = await self._find(action_id)
            if doc is None or doc["state"] != LedgerState.STARTED.value:
                return
            try:
                await self._container.delete_item(
                    action_id, partition_key=doc["pk"], etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
                self._partitions.pop(action_id, None)
                return
            except CosmosResourceNotFoundError:
                return
            except CosmosAccessConditionFailedError:
                continue
        raise LedgerConflict(f"ledger entry {action_id} changed {MAX_CONFLICT_RETRIES} times while abandoning")


def ledger_container(
    endpoint: str,
    *,
    database: str = "warden",
    container: str = "executor",
    managed_identity_client_id: str | None = None,
) -> tuple[ContainerProxy, Callable[[], Awaitable[None]]]:
    """The container as the service's managed identity (Cosmos keys are disabled), and its closer."""
    if not endpoint:
        raise ValueError("WARDEN_COSMOS_ENDPOINT is required for the cosmos state backend")
    from azure.cosmos.aio import CosmosClient
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
    client = CosmosClient(endpoint, credential=credential)

    async def close() -> None:
        await client.close()
        await credential.close()

    return client.get_database_client(database).get_container_client(container), close
