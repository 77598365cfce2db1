"""`AuditStore` on Azure append blobs, in a container with a time-based immutability policy.

Layout mirrors the local store: `<prefix>segments/NNNNNN.jsonl` (append blobs, one canonical
record per line) and `<prefix>checkpoints.jsonl`. Every append is conditional on the append
position this writer last saw (`x-ms-blob-condition-appendpos`), so a second writer (a stale
replica, a split brain) gets 412 instead of interleaving: its recorder then re-reads the log and
chains onto what the other wrote. Each block holds whole lines only and a block commits
atomically, so a blob never ends in a torn record. A blob is sealed and the next one created
before it reaches the service's 50,000-block limit (`max_blocks`, configurable for tests).

With `allowProtectedAppendWrites`, the immutability policy still lets blocks be appended but
nothing written can be modified or deleted until the retention period ends (see
`azure_immutability.py` and deploy/bicep/audit-storage.bicep).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.storage.blob.aio import BlobClient, ContainerClient
from warden_contracts.canonical import canonical_json

from warden_audit.adapters.chain_scan import ChainScan
from warden_audit.domain.chain import encode_record
from warden_audit.domain.checkpoint import Checkpoint
from warden_audit.domain.recorder import ChainState
from warden_audit.segments import checkpoints_path, complete_lines, segments_dir

log = logging.getLogger("warden.audit.blob")

BLOCK_LIMIT = 50_000  # committed blocks per append blob (service limit)
MAX_BLOCK_BYTES = 4 * 1024 * 1024  # per append, for every API version


class ConcurrentWriter(OSError):
    """Another writer appended first (412 on the append position): re-read the log and retry."""


@dataclass
class _Cursor:
    number: int = 0  # current segment blob, 0 before the first
    size: int = 0  # bytes committed = the append position of the next block
    blocks: int = 0


class AzureAppendBlobStore:
    def __init__(
        self,
        container: ContainerClient,
        *,
        prefix: str = "",
        max_blocks: int = BLOCK_LIMIT - 1_000,  # headroom: a batch never runs into the hard limit
        max_block_bytes: int = MAX_BLOCK_BYTES,
        recent: int = 1024,
    ) -> None:
        if not 1 <= max_blocks <= BLOCK_LIMIT:
            raise ValueError(f"max_blocks must be within 1..{BLOCK_LIMIT}")
        self.container = container
        self.prefix = prefix
        self.max_blocks = max_blocks
        self.max_block_bytes = max_block_bytes
        self._recent = recent
        self._cursor = _Cursor()
        self._checkpoint_size = 0
        self._checkpoint_blob = False

    def segment_name(self, number: int) -> str:
        return f"{self.prefix}segments/{number:06d}.jsonl"

    @property
    def checkpoints_name(self) -> str:
        return f"{self.prefix}checkpoints.jsonl"

    async def recover(self) -> ChainState:
        scan = ChainScan(self._recent)
        names = sorted([b.name async for b in self.container.list_blobs(name_starts_with=f"{self.prefix}segments/")])
        self._cursor = _Cursor()
        for position, name in enumerate(names, 1):
            if name != self.segment_name(position):
                raise ConcurrentWriter(f"unexpected blob {name}: segment {position:06d} missing")
            blob = self.container.get_blob_client(name)
            data = await (await blob.download_blob()).readall()
            lines, torn = complete_lines(data)
            if torn:  # blocks hold whole lines: this was not written by this store
                raise ConcurrentWriter(f"{name} ends inside a record")
            scan.feed(name, lines)
            props = await blob.get_blob_properties()
            self._cursor = _Cursor(position, len(data), int(props.append_blob_committed_block_count or 0))
        checkpoints = await self._download(self.checkpoints_name)
        self._checkpoint_size = len(checkpoints or b"")
        self._checkpoint_blob = checkpoints is not None
        state = scan.finish(complete_lines(checkpoints or b"")[0])
        log.info("audit blob log recovered", extra={"seq": state.last_seq, "segment": self._cursor.number})
        return state

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        for block in self._blocks([encode_record(r) for r in records]):
            if self._cursor.number == 0 or self._cursor.blocks >= self.max_blocks:
                await self._rotate()
            await self._append_block(self.container.get_blob_client(self.segment_name(self._cursor.number)), block)

    async def append_checkpoint(self, checkpoint: Checkpoint) -> None:
        blob = self.container.get_blob_client(self.checkpoints_name)
        if not self._checkpoint_blob:
            await self._create(blob)
            self._checkpoint_blob = True
        line = canonical_json(checkpoint.to_json()) + b"\n"
        try:
            await blob.append_block(line, appendpos_condition=self._checkpoint_size)
        except HttpResponseError as err:
            raise self._translate(err, blob.blob_name) from err
        self._checkpoint_size += len(line)

    async def close(self) -> None:
        await self.container.close()

    async def download_log(self, audit_dir: Path) -> int:
        """Copy the blobs into the local layout, so `warden audit verify --audit-dir` checks them."""
        folder = segments_dir(audit_dir)
        folder.mkdir(parents=True, exist_ok=True)
        count = 0
        async for item in self.container.list_blobs(name_starts_with=f"{self.prefix}segments/"):
            name = item.name.removeprefix(f"{self.prefix}segments/")
            data = await (await self.container.get_blob_client(item.name).download_blob()).readall()
            (folder / name).write_bytes(data)
            count += 1
        checkpoints = await self._download(self.checkpoints_name)
        if checkpoints is not None:
            checkpoints_path(audit_dir).write_bytes(checkpoints)
        return count

    # -- internals ------------------------------------------------------------------------------

    def _blocks(self, lines: list[bytes]) -> list[bytes]:
        blocks: list[bytes] = []
        current = bytearray()
        for line in lines:
            if current and len(current) + len(line) > self.max_block_bytes:
                blocks.append(bytes(current))
                current.clear()
            current += line
        if current:
            blocks.append(bytes(current))
        return blocks

    async def _append_block(self, blob: BlobClient, block: bytes) -> None:
        try:
            result = await blob.append_block(block, appendpos_condition=self._cursor.size)
        except HttpResponseError as err:
            raise self._translate(err, blob.blob_name) from err
        self._cursor.size += len(block)
        committed = result.get("blob_committed_block_count")
        self._cursor.blocks = committed if isinstance(committed, int) else self._cursor.blocks + 1

    async def _rotate(self) -> None:
        """Seal the current blob (at the position we know) and create the next one."""
        if self._cursor.number:
            blob = self.container.get_blob_client(self.segment_name(self._cursor.number))
            try:
                await blob.seal_append_blob(appendpos_condition=self._cursor.size)
            except HttpResponseError as err:
                raise self._translate(err, blob.blob_name) from err
            log.info("sealed audit blob", extra={"blob": blob.blob_name, "blocks": self._cursor.blocks})
        number = self._cursor.number + 1
        await self._create(self.container.get_blob_client(self.segment_name(number)))
        self._cursor = _Cursor(number, 0, 0)

    async def _create(self, blob: BlobClient) -> None:
        try:
            await blob.create_append_blob(if_none_match="*")  # never truncate what another writer made
        except (ResourceExistsError, ResourceModifiedError) as err:
            raise ConcurrentWriter(f"{blob.blob_name} was created by another writer") from err

    async def _download(self, name: str) -> bytes | None:
        blob = self.container.get_blob_client(name)
        if not await blob.exists():
            return None
        return bytes(await (await blob.download_blob()).readall())

    @staticmethod
    def _translate(err: HttpResponseError, name: str) -> OSError:
        code = getattr(err, "error_code", None) or ""
        if err.status_code == 412 or code == "AppendPositionConditionNotMet":
            return ConcurrentWriter(f"{name}: another writer appended first ({code or err.status_code})")
        if code == "BlobIsSealed" or err.status_code == 409:
            return ConcurrentWriter(f"{name}: sealed by another writer ({code or err.status_code})")
        return OSError(f"{name}: blob storage error {err.status_code} {code}: {err.message}")
