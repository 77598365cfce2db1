"""Rebuilding `ChainState` from stored lines, for stores that read their log back on start."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable

from warden_audit.domain.chain import MalformedLine, split_line
from warden_audit.domain.checkpoint import Checkpoint, MalformedCheckpoint
from warden_audit.domain.recorder import ChainState
from warden_audit.segments import AuditLogCorrupt


class ChainScan:
    """Feed segments' complete lines in order; refuses a chain that does not link up."""

    def __init__(self, recent: int = 1024) -> None:
        self.state = ChainState()
        self._tail: deque[bytes] = deque(maxlen=recent)
        self._last_hashed = b""

    def feed(self, where: str, lines: Iterable[bytes]) -> int:
        count = 0
        state = self.state
        for index, line in enumerate(lines, 1):
            try:
                parts = split_line(line)
            except MalformedLine as err:
                raise AuditLogCorrupt(f"unparsable record at {where}:{index}: {err}") from None
            if parts.seq != state.last_seq + 1 or parts.prev_hash != state.last_hash:
                raise AuditLogCorrupt(f"chain broken at {where}:{index}: expected seq {state.last_seq + 1}")
            state.message_ids.add(parts.message_id)
            state.merkle.add(parts.hash)
            state.last_seq, state.last_hash, self._last_hashed = parts.seq, parts.hash, parts.hashed
            self._tail.append(line)
            count += 1
        return count

    def finish(self, checkpoint_lines: list[bytes]) -> ChainState:
        state = self.state
        if state.last_seq and hashlib.sha256(self._last_hashed).hexdigest() != state.last_hash:
            raise AuditLogCorrupt(f"the last record (seq {state.last_seq}) does not match its hash")
        state.recent = [json.loads(line) for line in self._tail]
        if checkpoint_lines:
            try:
                last = Checkpoint.from_json(json.loads(checkpoint_lines[-1]))
            except (ValueError, MalformedCheckpoint) as err:
                raise AuditLogCorrupt(f"unreadable last checkpoint: {err}") from None
            if last.seq > state.last_seq:
                raise AuditLogCorrupt(
                    f"a signed checkpoint covers seq {last.seq} but the log ends at seq {state.last_seq}: "
                    "records removed"
                )
            state.last_checkpoint_seq, state.last_checkpoint = last.seq, last
        return state
