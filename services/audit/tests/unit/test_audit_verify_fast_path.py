"""The walk's inlined checks accept exactly the lines `_check_line` (via `split_line`) accepts: lines
whose chain members are laid out off the usual way, each with a correct hash of its own bytes, get
the report a walk of `_check_line` alone gives."""

from __future__ import annotations

import hashlib
import io

import pytest
from warden_audit.domain.chain import GENESIS_HASH, split_line
from warden_audit.domain.verification import ChainVerifier, _check_line

PREFIX = b'{"envelope":{"data":{"title":"alert"},"id":"m"}'
AT = b"2026-11-21T10:00:00.000001Z"


def hashed_line(tail: bytes, prefix: bytes = PREFIX) -> bytes:
    """`prefix` + the hash member + `tail` (which starts with `,`), hashed as the chain hashes."""
    digest = hashlib.sha256(prefix + tail).hexdigest().encode()
    return prefix + b',"hash":"' + digest + b'"' + tail


def usual_tail(seq: int, prev: bytes, message_id: bytes = b"m", at: bytes = AT, seq_text: bytes | None = None) -> bytes:
    seq_bytes = b"%d" % seq if seq_text is None else seq_text
    return (
        b',"message_id":"' + message_id + b'","prev_hash":"' + prev + b'","recorded_at":"' + at + b'","seq":'
        + seq_bytes + b',"source":"s","subject":null,"type":"t"}'
    )  # fmt: skip


def digest_of(line: bytes) -> bytes:
    return split_line(line).hash.encode()


# Each builds record 2 from record 1's hash; record 3 then links to whatever record 2 claims.
SECOND = {
    "usual": lambda prev: usual_tail(2, prev),
    "id with an escaped quote": lambda prev: usual_tail(2, prev, message_id=b'q\\"x'),
    "id with a backslash": lambda prev: usual_tail(2, prev, message_id=b"a\\\\b"),
    "id with a bad escape": lambda prev: usual_tail(2, prev, message_id=b"a\\qb"),
    "id holding a second link": lambda prev: usual_tail(
        2, prev, message_id=b'x","prev_hash":"' + b"e" * 64 + b'","recorded_at":"' + AT
    ),
    "id holding the right link after a wrong one": lambda prev: usual_tail(
        2, b"e" * 64, message_id=b'x","prev_hash":"' + prev + b'","recorded_at":"' + AT
    ),
    "recorded_at holding a wrong seq": lambda prev: usual_tail(2, prev, at=b'x","seq":7,"source":"y'),
    "recorded_at holding the right seq": lambda prev: usual_tail(7, prev, at=b'x","seq":2,"source":"y'),
    "recorded_at holding a seq member": lambda prev: usual_tail(2, prev, at=b'x","seq":7,"y'),
    "recorded_at holding a quote": lambda prev: usual_tail(2, prev, at=b'x","q":"z'),
    "seq with a leading zero": lambda prev: usual_tail(2, prev, seq_text=b"02"),
    "seq not a number": lambda prev: usual_tail(2, prev, seq_text=b'"2"'),
    "wrong seq": lambda prev: usual_tail(3, prev),
    "wrong link": lambda prev: usual_tail(2, b"f" * 64),
    "a member before message_id": lambda prev: b',"extra":1' + usual_tail(2, prev),
    "no recorded_at": lambda prev: usual_tail(2, prev).replace(b'","recorded_at":"' + AT, b""),
    "empty id and recorded_at": lambda prev: usual_tail(2, prev, message_id=b"", at=b""),
}


def reference(lines: list[bytes]) -> tuple[int, int, str] | None:
    """(line, expected seq, reason) of the first line `_check_line` rejects, walking them in order."""
    prev = GENESIS_HASH
    for number, line in enumerate(lines, 1):
        problem, reason = _check_line(line, number, prev, number == 1)
        if problem:
            return number, number, reason
        prev = split_line(line).hash
    return None


@pytest.mark.parametrize("case", sorted(SECOND))
@pytest.mark.parametrize("chunk_bytes", [64, 1 << 22])
def test_the_fast_path_agrees_with_check_line(case: str, chunk_bytes: int) -> None:
    first = hashed_line(usual_tail(1, GENESIS_HASH.encode()))
    second = hashed_line(SECOND[case](digest_of(first)))
    try:
        link = digest_of(second)
    except ValueError:
        link = b"0" * 64
    third = hashed_line(usual_tail(3, link))
    lines = [first, second, third]
    verifier = ChainVerifier()
    data = io.BytesIO(b"".join(line + b"\n" for line in lines))
    failure = verifier.feed_segment_file(1, "000001.jsonl", data, last=True, chunk_bytes=chunk_bytes)
    report = failure or verifier.report()
    expected = reference(lines)
    if expected is None:
        assert (report.ok, report.records, report.head_hash) == (True, 3, digest_of(third).decode())
    else:
        assert (report.line, report.first_bad_seq, report.reason) == expected


def test_the_cases_reach_both_verdicts() -> None:
    """The cases above are not all accepted or all refused: the comparison has teeth both ways."""
    verdicts = set()
    for build in SECOND.values():
        first = hashed_line(usual_tail(1, GENESIS_HASH.encode()))
        verdicts.add(reference([first, hashed_line(build(digest_of(first)))]) is None)
    assert verdicts == {True, False}
