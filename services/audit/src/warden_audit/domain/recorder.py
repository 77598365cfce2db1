"""Appends messages to the chain exactly once, in one serialized order, through the store port.

Concurrent callers are group-committed: one drain task appends everything queued so far in one
store call (one fsync) under the lock, and each caller gets its own result back; a pull batch goes
in whole through `record_many` (one future per batch, not per record). Batches that arrive while
an append is on its way to the disk (the pull batches of the other topics) share the next fsync. With a signer, a signed
checkpoint follows every `checkpoint_every` records, and `checkpoint()` signs one on demand (the
service calls it on a timer and on shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from warden_audit.domain.chain import GENESIS_HASH, ChainRecord, build_record, iso_utc
from warden_audit.domain.checkpoint import Checkpoint, Signer, sign_checkpoint
from warden_audit.domain.merkle import MerkleAccumulator

Record = dict[str, Any]
log = logging.getLogger("warden.audit")


@dataclass
class ChainState:
    """What the store recovers on start: the chain head and every recorded message id."""

    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    message_ids: set[str] = field(default_factory=set)
    recent: list[Record] = field(default_factory=list)  # the last records, oldest first
    merkle: MerkleAccumulator = field(default_factory=MerkleAccumulator)  # over records 1..last_seq
    last_checkpoint_seq: int = 0
    last_checkpoint: Checkpoint | None = None


class AuditStore(Protocol):
    async def recover(self) -> ChainState:
        """Scan the log (repairing a torn tail) and return its state; also resyncs after a failure."""

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Durably append, in order; returns only once the records are on stable storage."""

    async def append_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Durably store a signed checkpoint (after the records it covers)."""

    async def close(self) -> None: ...


class Recorded(NamedTuple):
    """`record` is None only for a duplicate too old to still be in memory."""

    record: Mapping[str, Any] | None
    duplicate: bool


Item = tuple[Mapping[str, Any], Mapping[str, Any] | None]  # an envelope and the members audit adds
_Pending = tuple[Sequence[Item], "asyncio.Future[list[Recorded]]"]


class Recorder:
    def __init__(
        self,
        store: AuditStore,
        clock: Callable[[], datetime],
        *,
        recent_limit: int = 1024,
        signer: Signer | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self.last_checkpoint: Checkpoint | None = None
        self._recent_limit = recent_limit
        self._state: ChainState | None = None
        self._recent: OrderedDict[str, Record] = OrderedDict()
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []
        self._drainer: asyncio.Future[None] | None = None
        self._resync = False

    @property
    def head(self) -> tuple[int, str]:
        state = self._require_state()
        return state.last_seq, state.last_hash

    async def open(self) -> None:
        self._adopt(await self._store.recover())

    async def close(self) -> None:
        if self._state is not None and not self._resync:
            await self.checkpoint()
        await self._store.close()

    async def checkpoint(self) -> Checkpoint | None:
        """Sign and store a checkpoint over everything recorded so far, if anything is new."""
        if self._signer is None or self._state is None:
            return None
        async with self._lock:
            return await self._checkpoint_locked()

    async def _checkpoint_locked(self) -> Checkpoint | None:
        state = self._require_state()
        if self._signer is None or self._resync or state.last_seq == state.last_checkpoint_seq:
            return None
        cp = sign_checkpoint(self._signer, state.last_seq, state.last_hash, state.merkle.root(), self._clock())
        try:
            await self._store.append_checkpoint(cp)
        except Exception:
            # The records are durable; the store may have moved on (another writer): re-read it
            # before the next append, and the next checkpoint covers these records too.
            self._resync = True
            log.exception("could not store a signed checkpoint at seq %s", cp.seq)
            return None
        state.last_checkpoint_seq = cp.seq
        self.last_checkpoint = cp
        return cp

    async def record(self, envelope: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Recorded:
        """Append `envelope` (JSON-compatible CloudEvent dict) unless its id is already recorded.

        `extra` holds the record members audit derives (who sent it, personal-data references).
        """
        return (await self.record_many([(envelope, extra)]))[0]

    async def _drain(self) -> None:
        # One scheduler turn first: callers started together (a pull batch) queue up and share
        # one append and one fsync.
        await asyncio.sleep(0)
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(batch)

    async def record_many(self, items: Sequence[Item]) -> list[Recorded]:
        """`record` for each (envelope, extra) in order, in one store append (one fsync, shared
        with whatever else is queued): what the service does with a pull batch."""
        self._require_state()
        future: asyncio.Future[list[Recorded]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._drainer is None or self._drainer.done():
            # One task commits for everyone queued (group commit); callers only wait for their
            # result. Being a task of its own, a cancelled caller cannot leave an append half-known.
            self._drainer = asyncio.ensure_future(self._drain())
        return await future

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._append_batch([item for items, _ in batch for item in items])
        except BaseException as err:
            for _, future in batch:
                if not future.done():
                    future.set_exception(err if isinstance(err, Exception) else RuntimeError(repr(err)))
            if not isinstance(err, Exception):
                raise
            return
        first = 0
        for items, future in batch:
            if not future.done():
                future.set_result(outcomes[first : first + len(items)])
            first += len(items)

    async def _append_batch(self, items: Sequence[Item]) -> list[Recorded]:
        """Under the lock: build, append and adopt the records of `items`; raises if the store did."""
        try:
            if self._resync:
                self._adopt(await self._store.recover())
            state = self._require_state()
            seq, prev = state.last_seq, state.last_hash
            fresh: list[ChainRecord] = []
            outcomes: list[Recorded] = []
            seen: dict[str, Record] = {}
            recorded_at = iso_utc(self._clock())  # one append, one instant: formatted once
            for envelope, extra in items:
                message_id = str(envelope["id"])
                if message_id in state.message_ids or message_id in seen:
                    earlier = seen.get(message_id) or self._recent.get(message_id)
                    outcomes.append(Recorded(earlier, duplicate=True))
                    continue
                seq += 1
                record = build_record(seq, prev, envelope, recorded_at, extra)
                prev = record["hash"]
                seen[message_id] = record
                fresh.append(record)
                outcomes.append(Recorded(record, duplicate=False))
            if fresh:
                await self._store.append(fresh)
        except BaseException:
            # The store is the truth: re-read it before the next append instead of guessing.
            self._resync = True
            raise
        state.last_seq, state.last_hash = seq, prev
        state.message_ids.update(seen)
        add_leaf = state.merkle.add_digest
        for record in fresh:
            add_leaf(record.digest)
        self._remember(fresh)
        if seq - state.last_checkpoint_seq >= self._checkpoint_every:
            await self._checkpoint_locked()  # before answering: the announcements then carry it
        return outcomes

    def _adopt(self, state: ChainState) -> None:
        self._state = state
        self.last_checkpoint = state.last_checkpoint or self.last_checkpoint
        self._resync = False
        self._recent.clear()
        self._remember(state.recent)
        state.recent = []

    def _remember(self, records: Sequence[Record]) -> None:
        for record in records[-self._recent_limit :]:  # older ones would be evicted at once
            self._recent[record["message_id"]] = record
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)

    def _require_state(self) -> ChainState:
        if self._state is None:
            raise RuntimeError("Recorder.open() must run before recording")
        return self._state
