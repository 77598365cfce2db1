"""Chain verification over raw segment bytes: finds the first record the log cannot prove.

`first_bad_seq` is the sequence number expected at the first position that fails, so a deleted
record 5 is reported as 5 (found 6 there), a reordered pair 5/6 as 5, an edited record as itself.
Truncating the tail of the log is not visible here; signed checkpoints will cover that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from warden_audit.domain.chain import GENESIS_HASH, MalformedLine, split_line


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    segment: str | None = None
    line: int | None = None
    problem: str = ""
    head_hash: str = GENESIS_HASH  # hash of the last proven record: what a checkpoint will sign


class ChainVerifier:
    """Feed segments in order; stops at the first problem."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.expected_segment = 1
        self.failure: VerifyReport | None = None

    def _fail(self, segment: str, line: int | None, problem: str) -> VerifyReport:
        self.failure = VerifyReport(
            False, self.expected_seq - 1, self.expected_seq, segment, line, problem, self.prev_hash
        )
        return self.failure

    def feed_segment(self, number: int, name: str, data: bytes, *, last: bool) -> VerifyReport | None:
        """Check one segment's bytes; return the failure report, or None if the chain holds."""
        if self.failure is not None:
            return self.failure
        if number != self.expected_segment:
            return self._fail(name, None, f"segment numbering gap: expected segment {self.expected_segment}")
        self.expected_segment += 1
        lines = data.split(b"\n")
        remainder = lines.pop()  # b"" when the segment ends with a newline
        expected, prev = self.expected_seq, self.prev_hash
        sha256 = hashlib.sha256
        for index, line in enumerate(lines, 1):
            try:
                parts = split_line(line)
            except MalformedLine as err:
                problem = f"unparsable line: {err}"
            else:
                if parts.seq != expected:
                    problem = f"expected seq {expected}, found {parts.seq}: a record was deleted, inserted or moved"
                elif parts.prev_hash != prev:
                    problem = (
                        "prev_hash does not continue the previous segment: segment replaced or forged"
                        if index == 1 and expected > 1
                        else f"prev_hash does not match the hash of record {expected - 1}"
                    )
                elif sha256(parts.hashed).hexdigest() != parts.hash:
                    problem = "content does not match its hash: the record was edited"
                else:
                    prev = parts.hash
                    expected += 1
                    continue
            self.expected_seq, self.prev_hash = expected, prev
            return self._fail(name, index, problem)
        self.expected_seq, self.prev_hash = expected, prev
        if remainder:
            problem = (
                "incomplete last line: a torn write that was never acknowledged (truncated on next start)"
                if last
                else "incomplete line at the end of a non-final segment"
            )
            return self._fail(name, len(lines) + 1, problem)
        return None

    def report(self) -> VerifyReport:
        if self.failure is not None:
            return self.failure
        return VerifyReport(True, self.expected_seq - 1, head_hash=self.prev_hash)
