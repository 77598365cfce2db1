"""`IncidentStore` on Cosmos DB (container `triage`, `azure.cosmos.aio`).

Partitioned by incident: an incident, its alert links and the alerts pending for it live in the
logical partition of its correlation key (the fingerprint: one open incident per key), so what one
alert message changes is one partition and commits as one transactional batch, together with the
processed-message marker. ETags guard every rewritten document (see `cosmos_documents`).
Unmatched alerts and markers of messages that changed nothing live in partition `unmatched`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from azure.cosmos.aio import ContainerProxy
from warden_contracts.events import AlertReceived, IncidentChanged, Severity

from warden_triage.adapters.cosmos_documents import UnitOfWork
from warden_triage.domain.incident_model import (
    AlertLink,
    AlertStatus,
    HeldGroup,
    Incident,
    IncidentStatus,
    IncidentTransaction,
    PendingAlert,
    Processed,
)

UNMATCHED = "unmatched"


def incident_doc(i: Incident) -> dict[str, Any]:
    return {
        "id": f"incident:{i.id}",
        "pk": i.fingerprint,
        "type": "incident",
        "incident_id": i.id,
        "fingerprint": i.fingerprint,
        "incident_class": i.incident_class,
        "title": i.title,
        "service": i.service,
        "resource_id": i.resource_id,
        "environment": i.environment,
        "resource_group": i.resource_group,
        "severity": i.severity.value,
        "status": i.status.value,
        "opened_at": i.opened_at.isoformat(),
        "updated_at": i.updated_at.isoformat(),
        "alert_count": i.alert_count,
        "owner": i.owner,
        "commander_channel": i.commander_channel,
        "services": list(i.services),
        "root_service": i.root_service,
    }


def incident_of(d: dict[str, Any]) -> Incident:
    return Incident(
        id=d["incident_id"],
        fingerprint=d["fingerprint"],
        incident_class=d["incident_class"],
        title=d["title"],
        service=d["service"],
        resource_id=d["resource_id"],
        environment=d["environment"],
        resource_group=d["resource_group"],
        severity=Severity(d["severity"]),
        status=IncidentStatus(d["status"]),
        opened_at=datetime.fromisoformat(d["opened_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        alert_count=d["alert_count"],
        owner=d.get("owner"),
        commander_channel=d.get("commander_channel"),
        services=tuple(d.get("services") or ()),
        root_service=d.get("root_service"),
    )


def _link_of(d: dict[str, Any]) -> AlertLink:
    return AlertLink(d["alert_id"], d["incident_id"], AlertStatus(d["status"]), datetime.fromisoformat(d["updated_at"]))


def _pending_of(d: dict[str, Any]) -> PendingAlert:
    alert = AlertReceived.model_validate_json(d["alert"])
    return PendingAlert(d["key"], d["alert_id"], d["message_id"], datetime.fromisoformat(d["received_at"]), alert)


class CosmosTransaction(IncidentTransaction):
    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit
        self._marker: dict[str, Any] | None = None

    async def processed(self, message_id: str) -> Processed | None:
        found = await self.unit.query({"type": "processed", "message_id": message_id})
        if not found:
            return None
        outcome = found[0]["outcome"]
        return Processed(IncidentChanged.model_validate_json(outcome) if outcome else None)

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None:
        # Placed at commit, in the partition this message changed (see `CosmosIncidentStore`).
        self._marker = {
            "id": f"processed:{message_id}",
            "type": "processed",
            "message_id": message_id,
            "processed_at": at.isoformat(),
            "outcome": outcome.model_dump_json() if outcome else None,
        }

    def marker(self) -> dict[str, Any] | None:
        return self._marker

    async def open_incident(self, fingerprint: str) -> Incident | None:
        found = await self.unit.query(
            {"type": "incident", "fingerprint": fingerprint, "status": "open"}, pk=fingerprint
        )
        return incident_of(found[0]) if found else None

    async def open_incidents_in(self, environment: str, services: set[str]) -> list[Incident]:
        if not services:
            return []
        found = await self.unit.query({"type": "incident", "environment": environment, "status": "open"})
        return [incident_of(d) for d in found if d["service"] in services]

    async def _incident_doc(self, incident_id: str) -> dict[str, Any] | None:
        found = await self.unit.query({"type": "incident", "incident_id": incident_id})
        return found[0] if found else None

    async def incident(self, incident_id: str) -> Incident | None:
        doc = await self._incident_doc(incident_id)
        return incident_of(doc) if doc else None

    async def save_incident(self, incident: Incident) -> None:
        self.unit.put(incident_doc(incident))

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]:
        found = await self.unit.query({"type": "link", "alert_id": alert_id})
        return [_link_of(d) for d in sorted(found, key=lambda d: d["attached_seq"])]

    async def links_of_incident(self, incident_id: str, *, limit: int | None = None) -> list[AlertLink]:
        found = sorted(
            await self.unit.query({"type": "link", "incident_id": incident_id}), key=lambda d: d["attached_seq"]
        )
        return [_link_of(d) for d in found[:limit]]

    async def count_firing(self, incident_id: str) -> int:
        return len(
            await self.unit.query({"type": "link", "incident_id": incident_id, "status": AlertStatus.FIRED.value})
        )

    async def save_link(self, link: AlertLink) -> None:
        owner = await self._incident_doc(link.incident_id)
        if owner is None:
            raise LookupError(f"alert {link.alert_id} links to unknown incident {link.incident_id}")
        doc_id = f"link:{link.alert_id}:{link.incident_id}"
        existing = await self.unit.get(owner["pk"], doc_id)
        # Keeps the original attachment order of an alert re-attached to its incident.
        seq = existing["attached_seq"] if existing else time.time_ns()
        self.unit.put(
            {
                "id": doc_id,
                "pk": owner["pk"],
                "type": "link",
                "alert_id": link.alert_id,
                "incident_id": link.incident_id,
                "status": link.status.value,
                "attached_seq": seq,
                "updated_at": link.updated_at.isoformat(),
            }
        )

    async def add_pending(self, pending: PendingAlert) -> None:
        for old in await self.unit.query({"type": "pending", "alert_id": pending.alert_id}):
            self.unit.delete(old["pk"], old["id"])
        self.unit.put(
            {
                "id": f"pending:{pending.alert_id}",
                "pk": pending.key,
                "type": "pending",
                "key": pending.key,
                "alert_id": pending.alert_id,
                "message_id": pending.message_id,
                "received_at": pending.received_at.isoformat(),
                "seq": time.time_ns(),
                "alert": pending.alert.model_dump_json(),
            }
        )

    async def pending(self, key: str) -> list[PendingAlert]:
        found = await self.unit.query({"type": "pending", "key": key}, pk=key)
        return [_pending_of(d) for d in sorted(found, key=lambda d: (d["received_at"], d["seq"]))]

    async def is_pending(self, alert_id: str) -> bool:
        return bool(await self.unit.query({"type": "pending", "alert_id": alert_id}))

    async def remove_pending(self, alert_id: str) -> bool:
        found = await self.unit.query({"type": "pending", "alert_id": alert_id})
        for doc in found:
            self.unit.delete(doc["pk"], doc["id"])
        return bool(found)

    async def drop_pending(self, key: str) -> None:
        for doc in await self.unit.query({"type": "pending", "key": key}, pk=key):
            self.unit.delete(doc["pk"], doc["id"])

    async def held_groups(self) -> list[HeldGroup]:
        # Across partitions: the sweep's read, every few seconds, of the (few) held documents.
        by_key: dict[str, list[dict[str, Any]]] = {}
        for doc in await self.unit.query({"type": "pending"}):
            by_key.setdefault(doc["key"], []).append(doc)
        return [
            HeldGroup(key, _pending_of(min(docs, key=lambda d: (d["received_at"], d["seq"]))), len(docs))
            for key, docs in by_key.items()
        ]

    async def record_unmatched(
        self, message_id: str, alert_id: str, status: AlertStatus, at: datetime, reason: str
    ) -> None:
        doc_id = f"unmatched:{message_id}"
        if await self.unit.get(UNMATCHED, doc_id) is None:
            self.unit.put(
                {
                    "id": doc_id,
                    "pk": UNMATCHED,
                    "type": "unmatched",
                    "message_id": message_id,
                    "alert_id": alert_id,
                    "status": status.value,
                    "received_at": at.isoformat(),
                    "reason": reason,
                }
            )


class CosmosIncidentStore:
    """`open`/`close` are the runtime hooks; `on_close` releases a client the store owns."""

    def __init__(self, container: ContainerProxy, on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._container = container
        self._on_close = on_close

    @classmethod
    def from_endpoint(cls, endpoint: str | None, managed_identity_client_id: str | None = None) -> CosmosIncidentStore:
        if not endpoint:
            raise ValueError("WARDEN_COSMOS_ENDPOINT is required for the cosmos state backend")
        container, close = connect_container(endpoint, managed_identity_client_id=managed_identity_client_id)
        return cls(container, on_close=close)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentTransaction]:
        tx = CosmosTransaction(UnitOfWork(self._container))
        yield tx  # an exception skips the commit: nothing staged is written
        marker = tx.marker()
        if marker is not None:
            # With the changes it marks when they are one partition: one atomic batch.
            partitions = tx.unit.partitions
            marker["pk"] = partitions[-1] if partitions else UNMATCHED
            tx.unit.put(marker)
            await tx.unit.commit(last=marker["pk"])
        else:
            await tx.unit.commit()


def connect_container(
    endpoint: str, *, database: str = "warden", container: str = "triage", managed_identity_client_id: str | None = None
) -> tuple[ContainerProxy, Callable[[], Awaitable[None]]]:
    """The container as the service's managed identity (Cosmos keys are disabled), and its closer."""
    from azure.cosmos.aio import CosmosClient
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
    client = CosmosClient(endpoint, credential=credential)

    async def close() -> None:
        await client.close()
        await credential.close()

    return client.get_database_client(database).get_container_client(container), close
