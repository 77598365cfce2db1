"""`StateStore` on Cosmos DB (container `policy`, `azure.cosmos.aio`).

`apply` must be atomic across everything one decision writes: the processed-message marker, the
incident's approvals, per-target slots, used approval tokens, controls, released actions and the
outbox. Cosmos DB makes a write atomic only inside one logical partition (a transactional batch),
and the policy's unit of work crosses incidents and targets, so the whole policy state lives in
one partition (`pk` = "policy"): decisions, not telemetry, a volume far below a partition's
limits. Every document carries `incident_id` where it has one. Optimistic concurrency: documents
read for a decision are rewritten with their ETag (`If-Match`); new ones are created (409 when
someone was first). A failed batch raises `Conflict` or `AlreadyProcessed` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosResourceNotFoundError,
)
from warden_contracts.envelope import Envelope

from warden_policy.adapters.approval_rows import COLUMNS, approval_from_row, approval_values
from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.rules import Counts
from warden_policy.ports import AlreadyProcessed, Changes, Conflict, Covered, Slot

PK = "policy"
MAX_BATCH_OPERATIONS = 100
Op = tuple[str, tuple[Any, ...], dict[str, Any]]
Bound = tuple[str, str, Any]  # (field, operator, value): ("released_at", ">=", ts(since))
RANGE_OPERATORS = frozenset({"<", "<=", ">", ">="})


def ts(value: datetime) -> str:
    """Fixed-width UTC text, so string comparison orders like time (as in the SQL stores)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def approval_doc(a: Approval) -> dict[str, Any]:
    doc = dict(zip((c.strip() for c in COLUMNS.split(",")), approval_values(a, ts), strict=True))
    return doc | {"id": f"approval:{a.approval_id}", "pk": PK, "type": "approval"}


class CosmosStateStore:
    def __init__(self, container: ContainerProxy, on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._container = container
        self._on_close = on_close

    @classmethod
    def from_endpoint(
        cls, endpoint: str | None, managed_identity_client_id: str | None = None, *, database: str = "warden"
    ) -> CosmosStateStore:
        """As the service's managed identity: the account has keys disabled."""
        if not endpoint:
            raise ValueError("WARDEN_COSMOS_ENDPOINT is required for the cosmos state backend")
        from azure.cosmos.aio import CosmosClient
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
        client = CosmosClient(endpoint, credential=credential)

        async def close() -> None:
            await client.close()
            await credential.close()

        return cls(client.get_database_client(database).get_container_client("policy"), on_close=close)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()

    async def _get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            return dict(await self._container.read_item(doc_id, partition_key=PK))
        except CosmosResourceNotFoundError:
            return None

    async def _query(self, *bounds: Bound, **where: Any) -> list[dict[str, Any]]:
        """The documents whose fields equal `where` and meet every (field, operator, value) bound.
        The bounds are the server's to apply: the whole state shares one partition, and a read
        filtered here would cost every document of the kind ever kept (each decision's rate
        counts read all released actions of the retention, each purge all processed messages)."""
        names = sorted(where)
        # Field names are this module's own; every value travels as a parameter.
        clauses = [f"c.{n} = @{n}" for n in names]
        params: list[dict[str, object]] = [{"name": f"@{n}", "value": where[n]} for n in names]
        for i, (name, operator, value) in enumerate(bounds):
            if operator not in RANGE_OPERATORS or not name.isidentifier():
                raise ValueError(f"not a bound this store issues: {name!r} {operator!r}")
            clauses.append(f"c.{name} {operator} @b{i}")
            params.append({"name": f"@b{i}", "value": value})
        query = "SELECT * FROM c WHERE " + " AND ".join(clauses)  # noqa: S608
        return [dict(d) async for d in self._container.query_items(query, parameters=params, partition_key=PK)]

    async def outbox_of(self, message_id: str) -> list[Envelope] | None:
        if await self._get(f"processed:{message_id}") is None:
            return None
        docs = sorted(await self._query(type="outbox", cause_id=message_id), key=lambda d: d["seq"])
        return [Envelope.from_bytes(d["body"].encode()) for d in docs]

    async def get_approval(self, approval_id: str) -> Approval | None:
        doc = await self._get(f"approval:{approval_id}")
        return approval_from_row(doc) if doc else None

    async def pending_for_incident(self, incident_id: str) -> list[Approval]:
        docs = await self._query(type="approval", incident_id=incident_id, state=ApprovalState.PENDING.value)
        return [approval_from_row(d) for d in sorted(docs, key=lambda d: d["requested_at"])]

    async def due_approvals(self, now: datetime, limit: int = 100) -> list[Approval]:
        docs = await self._query(("expires_at", "<=", ts(now)), type="approval", state=ApprovalState.PENDING.value)
        due = sorted(docs, key=lambda d: d["expires_at"])
        return [approval_from_row(d) for d in due[:limit]]

    async def live_slot(self, target: str, now: datetime) -> Slot | None:
        doc = await self._get(f"slot:{target}")
        if doc is None or doc["lease_until"] <= ts(now):
            return None
        return Slot(
            doc["target"],
            doc["action_id"],
            doc["incident_id"],
            datetime.fromisoformat(doc["lease_until"]),
            doc.get("action_hash", ""),
        )

    async def covered_by(self, action_id: str) -> list[Covered]:
        docs = sorted(await self._query(type="covered", action_id=action_id), key=lambda d: d["incident_id"])
        return [Covered(d["action_id"], d["incident_id"], Envelope.from_bytes(d["handoff"].encode())) for d in docs]

    async def token_used(self, jti: str) -> bool:
        return await self._get(f"token:{jti}") is not None

    async def controls(self) -> dict[tuple[str, str], str]:
        return {(d["kind"], d["scope"]): d["value"] for d in await self._query(type="control")}

    async def released_counts(self, target: str, incident_id: str, since: datetime) -> Counts:
        recent = await self._query(("released_at", ">=", ts(since)), type="released")
        return Counts(
            on_target_last_hour=sum(1 for d in recent if d["target"] == target),
            for_incident=len(await self._query(type="released", incident_id=incident_id)),
            last_hour=len(recent),
        )

    async def _slot_ops(self, c: Changes, now: datetime) -> list[Op]:
        ops: list[Op] = []
        targets = {t for t, _ in c.release} | {s.target for s in c.acquire}
        for target in sorted(targets):
            doc = await self._get(f"slot:{target}")
            held = doc
            if held is not None and (target, held["action_id"]) in c.release:
                held = None
            wanted = next((s for s in c.acquire if s.target == target), None)
            live = held is not None and held["lease_until"] > ts(now)
            if wanted is not None and live and held is not None and held["action_id"] != wanted.action_id:
                raise Conflict(f"target {target} was taken meanwhile")
            final = (
                None
                if wanted is None
                else {
                    "id": f"slot:{target}",
                    "pk": PK,
                    "type": "slot",
                    "target": target,
                    "action_id": wanted.action_id,
                    "incident_id": wanted.incident_id,
                    "lease_until": ts(wanted.lease_until),
                    "action_hash": wanted.action_hash,
                }
            )
            if doc is None and final is not None:
                ops.append(("create", (final,), {}))
            elif doc is not None and final is not None:
                ops.append(("replace", (final["id"], final), {"if_match_etag": doc["_etag"]}))
            elif doc is not None and held is None:
                ops.append(("delete", (doc["id"],), {"if_match_etag": doc["_etag"]}))
        return ops

    async def _operations(self, c: Changes, now: datetime) -> tuple[list[Op], list[Exception]]:
        """The batch, and for each operation the error its failure means."""
        ops: list[Op] = []
        errors: list[Exception] = []

        def add(op: Op, error: Exception) -> None:
            ops.append(op)
            errors.append(error)

        if c.message_id is not None:
            marker = {"id": f"processed:{c.message_id}", "pk": PK, "type": "processed", "processed_at": ts(now)}
            add(("create", (marker,), {}), AlreadyProcessed(c.message_id))
        for a in c.new_approvals:
            add(("create", (approval_doc(a),), {}), Conflict(f"approval {a.approval_id} already exists"))
        for a in c.updated_approvals:
            stored = await self._get(f"approval:{a.approval_id}")
            if stored is None or stored["version"] != a.version:
                raise Conflict(f"approval {a.approval_id} changed since version {a.version}")
            doc = stored | {
                "state": a.state.value,
                "decided_by": a.decided_by,
                "reason": a.reason,
                "approved_by": approval_doc(a)["approved_by"],
                "version": a.version + 1,
            }
            conflict = Conflict(f"approval {a.approval_id} changed since version {a.version}")
            add(("replace", (doc["id"], doc), {"if_match_etag": stored["_etag"]}), conflict)
        for op in await self._slot_ops(c, now):
            add(op, Conflict(f"slot {op[1][0]} changed meanwhile"))
        for r in c.released:
            if await self._get(f"released:{r.action_id}") is None:
                doc = {
                    "id": f"released:{r.action_id}",
                    "pk": PK,
                    "type": "released",
                    "action_id": r.action_id,
                    "target": r.target,
                    "incident_id": r.incident_id,
                    "released_at": ts(r.released_at),
                }
                add(("create", (doc,), {}), Conflict(f"action {r.action_id} was released meanwhile"))
        for cover in c.covered:
            doc_id = f"covered:{cover.action_id}:{cover.incident_id}"
            if await self._get(doc_id) is None:
                doc = {
                    "id": doc_id,
                    "pk": PK,
                    "type": "covered",
                    "action_id": cover.action_id,
                    "incident_id": cover.incident_id,
                    "handoff": cover.handoff.to_bytes().decode(),
                }
                add(("create", (doc,), {}), Conflict(f"cover of {cover.incident_id} was written meanwhile"))
        for action_id in c.uncover:
            for doc in await self._query(type="covered", action_id=action_id):
                conflict = Conflict(f"cover {doc['id']} changed meanwhile")
                add(("delete", (doc["id"],), {"if_match_etag": doc["_etag"]}), conflict)
        for jti, expires_at in c.used_tokens:
            doc = {"id": f"token:{jti}", "pk": PK, "type": "token", "jti": jti, "expires_at": ts(expires_at)}
            add(("create", (doc,), {}), Conflict(f"token {jti} was used meanwhile"))
        for ctl in c.controls:
            doc = {
                "id": f"control:{ctl.kind}:{ctl.scope}",
                "pk": PK,
                "type": "control",
                "kind": ctl.kind,
                "scope": ctl.scope,
                "value": ctl.value,
                "changed_by": ctl.changed_by,
                "changed_at": ts(now),
            }
            add(("upsert", (doc,), {}), Conflict(f"control {ctl.kind}/{ctl.scope} changed meanwhile"))
        for seq, e in enumerate(c.outbox):
            if await self._get(f"outbox:{e.id}") is None:
                doc = {
                    "id": f"outbox:{e.id}",
                    "pk": PK,
                    "type": "outbox",
                    "envelope_id": e.id,
                    "cause_id": c.message_id,
                    "body": e.to_bytes().decode(),
                    "created_at": ts(now),
                    "seq": f"{ts(now)}#{seq:04d}",
                    "published": False,
                }
                add(("create", (doc,), {}), Conflict(f"outbox entry {e.id} was written meanwhile"))
        return ops, errors

    async def apply(self, changes: Changes, now: datetime) -> None:
        ops, errors = await self._operations(changes, now)
        if len(ops) > MAX_BATCH_OPERATIONS:
            raise ValueError(f"{len(ops)} changes exceed one transactional batch of {MAX_BATCH_OPERATIONS}")
        if not ops:
            return
        try:
            await self._container.execute_item_batch(ops, partition_key=PK)
        except CosmosBatchOperationError as err:
            raise errors[err.error_index] from None

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[Envelope]:
        docs = await self._query(("created_at", "<=", ts(created_before)), type="outbox", published=False)
        return [Envelope.from_bytes(d["body"].encode()) for d in sorted(docs, key=lambda d: d["seq"])[:limit]]

    async def claim_unpublished(
        self, claimer: str, created_before: datetime, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[Envelope]:
        # Each row is taken by an etag-conditioned replace: of two replicas, one wins it.
        def free(d: dict[str, Any]) -> bool:
            return d.get("claimed_by") in (None, claimer) or float(d.get("claimed_until") or 0) < now.timestamp()

        docs = await self._query(("created_at", "<=", ts(created_before)), type="outbox", published=False)
        docs = sorted((d for d in docs if free(d)), key=lambda d: d["seq"])
        causes = {d.get("cause_id") for d in docs[:limit]} - {None}
        chosen = [d for i, d in enumerate(docs) if i < limit or d.get("cause_id") in causes]
        claim = {"claimed_by": claimer, "claimed_until": (now + lease).timestamp()}
        taken: list[Envelope] = []
        for doc in chosen:
            body = {k: v for k, v in doc.items() if not k.startswith("_")} | claim
            try:
                await self._container.replace_item(
                    doc["id"], body, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
            except CosmosAccessConditionFailedError:
                continue  # another replica claimed or published it meanwhile
            taken.append(Envelope.from_bytes(doc["body"].encode()))
        return taken

    async def release(self, claimer: str) -> None:
        for doc in await self._query(type="outbox", published=False, claimed_by=claimer):
            body = {k: v for k, v in doc.items() if not k.startswith("_")} | {"claimed_by": None, "claimed_until": None}
            try:
                await self._container.replace_item(
                    doc["id"], body, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
            except CosmosAccessConditionFailedError:
                continue  # published or taken over meanwhile

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None:
        for envelope_id in envelope_ids:
            doc = await self._get(f"outbox:{envelope_id}")
            if doc is not None and not doc["published"]:
                doc |= {"published": True, "published_at": ts(now)}
                await self._container.upsert_item({k: v for k, v in doc.items() if not k.startswith("_")})

    async def purge(self, older_than: datetime, now: datetime) -> None:
        cutoff = ts(older_than)
        stale = await self._query(("created_at", "<", cutoff), type="outbox", published=True)
        stale += await self._query(("processed_at", "<", cutoff), type="processed")
        stale += await self._query(("released_at", "<", cutoff), type="released")
        stale += await self._query(("expires_at", "<", ts(now)), type="token")
        for doc in stale:
            try:
                await self._container.delete_item(doc["id"], partition_key=PK)
            except CosmosResourceNotFoundError:
                continue
