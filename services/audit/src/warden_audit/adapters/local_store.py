"""`AuditStore` on local append-only segment files, fsynced per append batch.

A segment is sealed (made read-only) when it holds `segment_records` records; the next append
starts a new one. On start the log is scanned: chain head, de-dup ids, and a torn last line (a crash
mid-write: never acknowledged) is cut off. A log whose chain does not link up, or that ends before
its last signed checkpoint (`checkpoints.jsonl`, appended and fsynced like the records), refuses to
start, because extending it would bury the damage under valid-looking records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from warden_contracts.canonical import canonical_json

from warden_audit.adapters.chain_scan import ChainScan
from warden_audit.domain.chain import encode_record
from warden_audit.domain.checkpoint import Checkpoint
from warden_audit.domain.recorder import ChainState
from warden_audit.segments import (
    AuditLogCorrupt,
    checkpoints_path,
    complete_lines,
    list_segments,
    segment_path,
    segments_dir,
)

log = logging.getLogger("warden.audit.store")

SEALED_MODE = 0o400  # read-only, and for the audit's user alone


class LocalSegmentStore:
    def __init__(self, audit_dir: Path, segment_records: int = 10_000, *, recent: int = 1024) -> None:
        if segment_records < 1:
            raise ValueError("segment_records must be at least 1")
        self.audit_dir = audit_dir
        self.segment_records = segment_records
        self._recent = recent
        self._segment = 1
        self._count = 0  # records in the current segment
        self._handle: BinaryIO | None = None

    async def recover(self) -> ChainState:
        return await asyncio.to_thread(self._recover)

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        lines = [encode_record(r) for r in records]
        await asyncio.to_thread(self._append, lines)

    async def append_checkpoint(self, checkpoint: Checkpoint) -> None:
        line = canonical_json(checkpoint.to_json()) + b"\n"
        await asyncio.to_thread(self._append_checkpoint, line)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # -- blocking parts, run in a worker thread -------------------------------------------------

    def _recover(self) -> ChainState:
        self._close()
        self._segment, self._count = 1, 0
        folder = segments_dir(self.audit_dir)
        folder.mkdir(parents=True, exist_ok=True)
        segments = list_segments(self.audit_dir)
        scan = ChainScan(self._recent)
        for position, (number, path) in enumerate(segments, 1):
            if number != position:
                raise AuditLogCorrupt(f"segment {position:06d} is missing (found {path.name})")
            data = path.read_bytes()
            lines, torn = complete_lines(data)
            if torn:
                if position != len(segments):
                    raise AuditLogCorrupt(f"incomplete line inside sealed segment {path.name}")
                self._truncate(path, len(data) - len(torn))
            scan.feed(path.name, lines)
            self._segment, self._count = number, len(lines)
        # A log shorter than its last signed checkpoint was cut: ChainScan refuses to extend it.
        state = scan.finish(self._checkpoint_lines())
        if segments and self._count >= self.segment_records:
            self._seal(segment_path(self.audit_dir, self._segment))  # crash between fill and seal
        log.info("audit log recovered", extra={"seq": state.last_seq, "segment": self._segment})
        return state

    def _checkpoint_lines(self) -> list[bytes]:
        path = checkpoints_path(self.audit_dir)
        if not path.exists():
            return []
        data = path.read_bytes()
        lines, torn = complete_lines(data)
        if torn:
            self._truncate(path, len(data) - len(torn))
        return lines

    def _append_checkpoint(self, line: bytes) -> None:
        path = checkpoints_path(self.audit_dir)
        created = not path.exists()
        with path.open("ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            _fsync_dir(path.parent)

    def _truncate(self, path: Path, size: int) -> None:
        lost = path.stat().st_size - size
        with path.open("r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
        log.warning(
            "truncated a torn last line (crash mid-write, never acknowledged)",
            extra={"segment": path.name, "bytes_removed": lost},
        )

    def _append(self, lines: list[bytes]) -> None:
        # One write and one fsync per segment the batch touches: the lines that fit are joined at
        # once (no byte-by-byte growth of a buffer while the event loop waits for the GIL).
        first = 0
        while first < len(lines):
            if self._count >= self.segment_records:
                self._roll()
            fits = lines[first : first + self.segment_records - self._count]
            self._write(b"".join(fits))
            self._count += len(fits)
            first += len(fits)
        if self._count >= self.segment_records:
            self._roll()

    def _write(self, data: bytes) -> None:
        if not data:
            return
        handle = self._open()
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())

    def _roll(self) -> None:
        """Seal the full segment and move to the next number (created on first write)."""
        self._close()
        if self._count:
            self._seal(segment_path(self.audit_dir, self._segment))
        self._segment += 1
        self._count = 0

    def _open(self) -> BinaryIO:
        if self._handle is None:
            path = segment_path(self.audit_dir, self._segment)
            created = not path.exists()
            self._handle = path.open("ab")
            if created:
                _fsync_dir(path.parent)
        return self._handle

    def _seal(self, path: Path) -> None:
        if stat.S_IMODE(path.stat().st_mode) != SEALED_MODE:
            path.chmod(SEALED_MODE)
            log.info("sealed audit segment", extra={"segment": path.name})

    def _close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
