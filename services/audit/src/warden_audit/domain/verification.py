"""Chain and checkpoint verification over raw segment bytes: the first record the log cannot prove.

`first_bad_seq` is the sequence number expected at the first position that fails, so a deleted
record 5 is reported as 5 (found 6 there), a reordered pair 5/6 as 5, an edited record as itself.

Signed checkpoints add what a chain alone cannot show: a log cut short after a checkpoint (the
checkpoint names records that are gone), and a log rewritten consistently from some point on (the
signed head hash and Merkle root no longer match). A cut after the last checkpoint is only visible
against a copy of a later checkpoint held elsewhere (the SIEM stream): see docs/audit.md.
"""

from __future__ import annotations

import hashlib
import io
from binascii import hexlify
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from warden_audit.domain.chain import (
    _AT_MEMBER,
    _HASH_MEMBER,
    _ID_MEMBER,
    _PREV_MEMBER,
    _SEQ_MEMBER,
    _SOURCE_MEMBER,
    GENESIS_HASH,
    HASH_HEX_LEN,
    MalformedLine,
    split_line,
)
from warden_audit.domain.checkpoint import Checkpoint, SignatureCheck
from warden_audit.domain.merkle import MerkleAccumulator, aligned_blocks

_HASH_LEN, _PREV_LEN = len(_HASH_MEMBER), len(_PREV_MEMBER)


class ReadInto(Protocol):
    """A binary file, as far as streaming a segment needs it."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


CHUNK_BYTES = 1 << 22  # read size when streaming a segment file
_HASH_END = _HASH_LEN + HASH_HEX_LEN  # from the start of `,"hash":"` to the quote after the digest
_AFTER_HASH = b'",' + _ID_MEMBER  # closes the digest and opens the message id
_AFTER_HASH_LEN = len(_AFTER_HASH)
_LINK_LEN = _PREV_LEN + HASH_HEX_LEN + len(_AT_MEMBER)  # `","prev_hash":"<64 hex>","recorded_at":"`
_SEQ_TAIL = b'"' + _SEQ_MEMBER + b"%d" + _SOURCE_MEMBER  # closes `recorded_at`: `","seq":<n>,"source":`
_OPEN, _CLOSE = ord("{"), ord("}")


def _check_line(line: bytes, expected: int, prev: str, first_in_segment: bool) -> tuple[str, str]:
    """(problem, reason) for a line that does not continue the chain at `expected` after `prev`;
    ("", "") when it does. The definition the verifier's fast path inlines."""
    try:
        parts = split_line(line)
    except MalformedLine as err:
        return f"unparsable line: {err}", "unparsable"
    if parts.seq != expected:
        return f"expected seq {expected}, found {parts.seq}: a record was deleted, inserted or moved", "sequence"
    if parts.prev_hash != prev:
        if first_in_segment and expected > 1:
            return "prev_hash does not continue the previous segment: segment replaced or forged", "link"
        return f"prev_hash does not match the hash of record {expected - 1}", "link"
    if hashlib.sha256(parts.hashed).hexdigest() != parts.hash:
        return "content does not match its hash: the record was edited", "edited"
    return "", ""


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    segment: str | None = None
    line: int | None = None
    problem: str = ""
    head_hash: str = GENESIS_HASH  # hash of the last proven record
    checkpoints: int = 0  # signed checkpoints that matched the log
    last_checkpoint_seq: int = 0
    signatures_checked: bool = False  # False: no trusted key was given, only the content was compared
    reason: str = ""  # a stable name for the failure (docs/audit.md lists them), e.g. "edited"
    head_recorded_at: str | None = None  # `recorded_at` of the last proven record, for staleness rules


# The verifier's attributes a walk changes (with the Merkle accumulator): what `state` saves.
_WALK_STATE = (
    "expected_seq",
    "prev_hash",
    "expected_segment",
    "failure",
    "_next_cp",
    "_verified_cps",
    "_last_cp_seq",
    "_where",
)


class ChainVerifier:
    """Feed segments in order, then call `report()`; stops at the first problem.

    `checkpoints` (sorted by seq) are checked as the walk passes them: signature first (when a
    `check` is given), then the head hash and Merkle root at that position.
    """

    def __init__(
        self,
        checkpoints: Sequence[Checkpoint] = (),
        check: SignatureCheck | None = None,
        sources: Mapping[int, str] | None = None,
    ) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.expected_segment = 1
        self.failure: VerifyReport | None = None
        self._checkpoints = list(checkpoints)
        self._check = check
        self._sources = dict(sources or {})  # checkpoint seq -> where it came from, when not checkpoints.jsonl
        self._next_cp = 0  # index of the next checkpoint to meet
        self._verified_cps = 0
        self._last_cp_seq = 0
        self._merkle = MerkleAccumulator() if self._checkpoints else None
        self._where = ("", 0)
        self.digests: list[bytes] | None = None  # when a list: each accepted record's raw hash is appended
        self._precheck()

    def _precheck(self) -> None:
        previous = -1
        for cp in self._checkpoints:
            if cp.seq <= previous:
                problem = f"checkpoint file out of order at seq {cp.seq}: edited"
                self._fail_at(cp.seq, None, None, problem, "checkpoints_out_of_order")
                return
            previous = cp.seq
            if self._check is not None and not cp.is_signed_by(self._check):
                self._fail_at(
                    cp.seq,
                    None,
                    None,
                    f"checkpoint at seq {cp.seq}{self._from(cp.seq)} is not signed by a trusted key (id {cp.key_id})",
                    "checkpoint_signature",
                )
                return
        # seq 0 checkpoints sign the empty log
        while self._next_cp < len(self._checkpoints) and self._checkpoints[self._next_cp].seq == 0:
            self._meet(self._checkpoints[self._next_cp])

    def _from(self, seq: int) -> str:
        source = self._sources.get(seq)
        return f" (from {source})" if source else ""

    def _fail_at(
        self, seq: int | None, segment: str | None, line: int | None, problem: str, reason: str
    ) -> VerifyReport:
        self.failure = VerifyReport(
            False,
            self.expected_seq - 1,
            seq,
            segment,
            line,
            problem,
            self.prev_hash,
            self._verified_cps,
            self._last_cp_seq,
            reason=reason,
        )
        return self.failure

    def _fail(self, segment: str, line: int | None, problem: str, reason: str) -> VerifyReport:
        return self._fail_at(self.expected_seq, segment, line, problem, reason)

    def _meet(self, cp: Checkpoint) -> None:
        """The walk has just accepted record `cp.seq`: the signed state must be the state here."""
        assert self._merkle is not None
        since = self._last_cp_seq + 1
        if cp.head_hash != self.prev_hash or cp.merkle_root != self._merkle.root():
            segment, line = self._where
            self._fail_at(
                since,
                None,
                None,
                f"the checkpoint at seq {cp.seq}{self._from(cp.seq)} ({segment}:{line}) signed a different log: "
                f"a record in seq {since}..{cp.seq} was rewritten (with the chain recomputed after it)",
                "rewritten",
            )
            return
        self._verified_cps += 1
        self._last_cp_seq = cp.seq
        self._next_cp += 1

    def feed_segment(self, number: int, name: str, data: bytes, *, last: bool) -> VerifyReport | None:
        """Check one segment's bytes; return the failure report, or None if the chain holds."""
        return self.feed_segment_file(number, name, io.BytesIO(data), last=last)

    def feed_segment_file(
        self, number: int, name: str, source: ReadInto, *, last: bool, chunk_bytes: int = CHUNK_BYTES
    ) -> VerifyReport | None:
        """`feed_segment` streaming from a binary file: one reused buffer of `chunk_bytes` (grown only
        for a longer line), so memory stays flat however large the segment is."""
        if self.failure is not None:
            return self.failure
        if number != self.expected_segment:
            gap = f"segment numbering gap: expected segment {self.expected_segment}"
            return self._fail(name, None, gap, "segment_missing")
        self.expected_segment += 1
        buf = bytearray(chunk_bytes)
        view = memoryview(buf)
        filled, index = 0, 0  # bytes carried over (a line's start), lines checked so far
        while True:
            read = source.readinto(view[filled:])
            if not read:
                break
            end = filled + read
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut:
                failure, index = self._walk(buf, view, cut, name, index)
                if failure is not None:
                    return failure
                buf[: end - cut] = buf[cut:end]  # the partial line to the front (a copy: no overlap)
            filled = end - cut
            if filled == len(buf):  # one line longer than the buffer: grow it
                view.release()
                buf.extend(bytes(len(buf)))
                view = memoryview(buf)
        if filled:
            problem = (
                "incomplete last line: a torn write that was never acknowledged (truncated on next start)"
                if last
                else "incomplete line at the end of a non-final segment"
            )
            return self._fail(name, index + 1, problem, "torn_line")
        return None

    def _walk(
        self, buf: bytes | bytearray, view: memoryview, limit: int, name: str, index: int
    ) -> tuple[VerifyReport | None, int]:
        """Check the complete lines in `buf[:limit]` (line numbers after `index`) on their bytes:
        no line is copied, split off or decoded. Returns (failure or None, lines checked)."""
        expected, prev = self.expected_seq, self.prev_hash.encode("ascii", errors="replace")
        sha256 = hashlib.sha256
        got: list[bytes] = []  # the raw record hashes accepted, for the Merkle tree a run at a time
        keep, folded = got.append, 0
        cps = self._checkpoints
        next_cp_seq = cps[self._next_cp].seq if self._next_cp < len(cps) else -1
        find, rfind, startswith = buf.find, buf.rfind, buf.startswith
        link = _PREV_MEMBER + prev + _AT_MEMBER  # what follows this line's message id
        pos = 0
        while pos < limit:
            nl = find(b"\n", pos, limit)
            index += 1
            # Fast path: the checks `_check_line` makes on a line laid out as `encode_record`
            # writes it, made in place; any other line takes `_check_line` itself.
            at = rfind(_HASH_MEMBER, pos, nl)
            end = at + _HASH_END
            id_start = end + _AFTER_HASH_LEN
            # The message id ends at its first quote (it may hold no backslash, so no escaped
            # quote), `recorded_at` at the first quote of its value: so the link and seq checked
            # there are the first members of those names, the ones `split_line` reads. One call
            # per check, and few checks: a bytes method call costs more than the search it makes.
            id_end = find(b'"', id_start, nl)
            at_end = find(b'"', id_end + _LINK_LEN, nl)
            hasher = sha256(view[pos:at])
            hasher.update(view[end + 1 : nl])
            digest = hasher.digest()
            hex_digest = hexlify(digest)
            if not (
                at >= pos
                and id_end >= 0
                and at_end >= 0
                and buf[pos] == _OPEN
                and buf[nl - 1] == _CLOSE
                and startswith(hex_digest + _AFTER_HASH, at + _HASH_LEN, nl)
                and startswith(link, id_end, nl)
                and startswith(_SEQ_TAIL % expected, at_end, nl)
                and find(b"\\", id_start, id_end) < 0
            ):
                line = bytes(view[pos:nl])
                problem, reason = _check_line(line, expected, prev.decode("ascii", errors="replace"), index == 1)
                if problem:
                    self.expected_seq, self.prev_hash = expected, prev.decode("ascii", errors="replace")
                    self._accepted(got, folded)
                    return self._fail(name, index, problem, reason), index
                # Laid out otherwise but valid: the same hashed bytes as the fast path took.
            prev = hex_digest
            link = _PREV_MEMBER + prev + _AT_MEMBER
            pos = nl + 1
            keep(digest)
            if expected == next_cp_seq:  # the tree must stand at this record: fold what is pending
                self._fold(got[folded:])
                folded = len(got)
                self.expected_seq, self.prev_hash, self._where = expected + 1, prev.decode(), (name, index)
                self._meet(cps[self._next_cp])
                if self.failure is not None:
                    return self.failure, index
                next_cp_seq = cps[self._next_cp].seq if self._next_cp < len(cps) else -1
            expected += 1
        self._accepted(got, folded)
        self.expected_seq, self.prev_hash = expected, prev.decode("ascii", errors="replace")
        return None, index

    def _accepted(self, got: list[bytes], folded: int) -> None:
        """The records of one `_walk` call are in: into the tree (past `folded`), and `digests`."""
        self._fold(got[folded:])
        if self.digests is not None:
            self.digests += got

    def _fold(self, digests: list[bytes]) -> None:
        merkle = self._merkle
        if merkle is None or not digests:
            return
        for height, node in aligned_blocks(digests, merkle.size):
            merkle.add_block(height, node)

    @property
    def keeps_merkle(self) -> bool:
        return self._merkle is not None

    @property
    def checkpoint_seqs(self) -> tuple[int, ...]:
        return tuple(cp.seq for cp in self._checkpoints)

    def state(self) -> tuple[Any, ...]:
        """Everything the walk changes, for `restore` (to walk a segment again from its start)."""
        merkle = (self._merkle.size, list(self._merkle._peaks)) if self._merkle is not None else None
        return (tuple(getattr(self, name) for name in _WALK_STATE), merkle)

    def restore(self, state: tuple[Any, ...]) -> None:
        values, merkle = state
        for name, value in zip(_WALK_STATE, values, strict=True):
            setattr(self, name, value)
        if self._merkle is not None:
            self._merkle.size, self._merkle._peaks = merkle[0], list(merkle[1])

    def absorb(self, chunk: CheckedChunk) -> bool:
        """Continue the walk with a run of lines checked elsewhere (`check_chunk`): True when it
        continues the chain here and meets every checkpoint in it. False leaves the state unusable:
        `restore` and walk the segment to get the report."""
        if self.failure is not None or chunk.first_seq != self.expected_seq or chunk.first_prev != self.prev_hash:
            return False
        merkle, cps = self._merkle, self._checkpoints
        if merkle is not None:
            if merkle.size != self.expected_seq - 1:
                return False
            for height, node in chunk.blocks:
                merkle.add_block(height, node)
                if self._next_cp < len(cps) and cps[self._next_cp].seq == merkle.size:
                    self.expected_seq, self.prev_hash = merkle.size + 1, chunk.cut_hashes[merkle.size]
                    self._meet(cps[self._next_cp])
                    if self.failure is not None:
                        return False
        self.expected_seq, self.prev_hash = chunk.first_seq + chunk.count, chunk.last_hash
        return True

    def report(self) -> VerifyReport:
        if self.failure is not None:
            return self.failure
        if self._next_cp < len(self._checkpoints):
            signed = self._checkpoints[-1].seq
            outside = signed in self._sources
            return self._fail_at(
                self.expected_seq,
                None,
                None,
                f"the log ends at seq {self.expected_seq - 1} but a signed checkpoint{self._from(signed)} covers "
                f"seq {signed}: records {self.expected_seq}..{signed} were removed (tail truncated)",
                "shorter_than_anchor" if outside else "truncated",
            )
        return VerifyReport(
            True,
            self.expected_seq - 1,
            head_hash=self.prev_hash,
            checkpoints=self._verified_cps,
            last_checkpoint_seq=self._last_cp_seq,
            signatures_checked=self._check is not None,
        )


@dataclass(frozen=True, slots=True)
class CheckedChunk:
    """A run of complete lines that holds together on its own (content hashes, seq and prev_hash
    links inside it), as `ChainVerifier.absorb` stitches it to the lines before it."""

    first_seq: int
    first_prev: str
    last_hash: str
    count: int
    blocks: tuple[tuple[int, bytes], ...]  # Merkle subtrees over its records (`aligned_blocks`)
    cut_hashes: dict[int, str]  # record hash at each checkpoint seq inside the run


def check_chunk(data: bytes, cuts: Sequence[int], merkle: bool) -> CheckedChunk | None:
    """Check complete lines (`data` ends with a newline) with the walk's own checks, starting from
    the seq and prev_hash the first line claims; None when any line fails (walk it in order then).
    With `merkle`, also the subtree roots over the records, cut at each seq in `cuts`."""
    first = data.find(b"\n")
    try:
        head = split_line(data[:first])
    except MalformedLine:
        return None
    walker = ChainVerifier()
    walker.expected_seq, walker.prev_hash, walker.digests = head.seq, head.prev_hash, []
    failure, count = walker._walk(data, memoryview(data), len(data), "", 0)
    if failure is not None or count == 0:
        return None
    digests, start = walker.digests, head.seq
    inside = [c for c in cuts if start <= c < start + count]
    return CheckedChunk(
        head.seq,
        head.prev_hash,
        walker.prev_hash,
        count,
        tuple(aligned_blocks(digests, start - 1, cuts)) if merkle else (),
        {c: digests[c - start].hex() for c in inside},
    )
