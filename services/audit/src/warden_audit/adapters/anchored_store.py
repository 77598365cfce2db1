"""An `AuditStore` that also appends every signed checkpoint to the anchor file outside `audit/`.

It wraps whichever store holds the chain (local segments or append blobs). On start it refuses a
log shorter than the newest checkpoint in the anchor file, as the local store does for its own
`checkpoints.jsonl`, since extending it would bury the cut. Every checkpoint it stores is queued
with the newest record so the service can announce it on the SIEM stream (`take_announcements`):
checkpoints signed by the timer or at shutdown follow no record, so without this the SIEM would
never see them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from warden_audit.adapters.anchor_file import AnchorFile
from warden_audit.domain.checkpoint import Checkpoint
from warden_audit.domain.recorder import AuditStore, ChainState
from warden_audit.segments import AuditLogCorrupt


class AnchoredStore:
    def __init__(self, inner: AuditStore, anchor: AnchorFile) -> None:
        self.inner = inner
        self.anchor = anchor
        self._head: Mapping[str, Any] | None = None
        self._announce: list[tuple[Checkpoint, Mapping[str, Any]]] = []

    async def recover(self) -> ChainState:
        state = await self.inner.recover()
        newest = await asyncio.to_thread(self.anchor.newest)
        if newest is not None and newest.seq > state.last_seq:
            raise AuditLogCorrupt(
                f"the anchor file {self.anchor.path} holds a signed checkpoint at seq {newest.seq} but the log "
                f"ends at seq {state.last_seq}: records removed (run `warden audit verify`)"
            )
        if state.recent:
            self._head = state.recent[-1]
            if state.last_checkpoint is not None:
                # Re-announced after a restart: its derived event id lets the broker drop a repeat.
                self._announce.append((state.last_checkpoint, self._head))
        return state

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        await self.inner.append(records)
        if records:
            self._head = records[-1]

    async def append_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self.inner.append_checkpoint(checkpoint)
        await asyncio.to_thread(self.anchor.append, checkpoint)
        if self._head is not None:
            self._announce.append((checkpoint, self._head))

    def take_announcements(self) -> list[tuple[Checkpoint, Mapping[str, Any]]]:
        """Checkpoints stored since the last call, each with the newest record at the time."""
        found, self._announce = self._announce, []
        return found

    async def close(self) -> None:
        await self.inner.close()
