"""The hash chain: how a record is built, hashed, written as one line and read back cheaply.

A record is one canonical JSON object per line. Its `hash` is the SHA-256 of the canonical JSON of
the record without `hash`, and `prev_hash` links it to the record before (genesis: 64 zeros).

Keys are sorted and `envelope` is the only nested value; it sorts before `hash`, so everything
after the top-level `"hash"` member is a flat run of scalars. That lets readers split a line into
"bytes that were hashed" and "chain fields" without parsing the envelope (see `split_line`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warden_contracts.canonical import canonical_json, sha256_hex

GENESIS_HASH = "0" * 64
HASH_HEX_LEN = 64
_HASH_MEMBER = b',"hash":"'


class MalformedLine(ValueError):
    """A line that is not a record written by this module."""


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_record(seq: int, prev_hash: str, envelope: Mapping[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """The record for `envelope` (a JSON-compatible dict of the CloudEvent) at position `seq`."""
    body: dict[str, Any] = {
        "seq": seq,
        "recorded_at": iso_utc(recorded_at),
        "message_id": str(envelope["id"]),
        "type": envelope.get("type"),
        "source": envelope.get("source"),
        "correlationid": envelope.get("correlationid"),
        "causationid": envelope.get("causationid"),
        "subject": envelope.get("subject"),
        "envelope": dict(envelope),
        "prev_hash": prev_hash,
    }
    return {**body, "hash": sha256_hex(body)}


def record_hash(record: Mapping[str, Any]) -> str:
    """Recompute a record's hash from its content (its own `hash` field excluded)."""
    return sha256_hex({k: v for k, v in record.items() if k != "hash"})


def encode_record(record: Mapping[str, Any]) -> bytes:
    return canonical_json(record) + b"\n"


@dataclass(frozen=True, slots=True)
class LineParts:
    hashed: bytes  # exactly the bytes whose SHA-256 must equal `hash`
    hash: str
    prev_hash: str
    seq: int
    message_id: str


def split_line(line: bytes) -> LineParts:
    """Split a stored line (without its newline) into hashed bytes and chain fields.

    Parses only the short scalar tail, never the envelope: this is the hot path of verification
    and of start-up recovery. Any edited byte changes `hashed`, so the hash check stays total.
    """
    at = line.rfind(_HASH_MEMBER)
    if at < 0 or not line.startswith(b"{") or not line.endswith(b"}"):
        raise MalformedLine("not a chain record")
    end = at + len(_HASH_MEMBER) + HASH_HEX_LEN
    if line[end : end + 2] != b'",':
        raise MalformedLine("hash member is not 64 characters followed by more fields")
    try:
        tail = json.loads(b"{" + line[at + 1 :])
    except ValueError as err:
        raise MalformedLine(f"unparsable chain fields: {err}") from None
    seq, prev, digest, message_id = tail.get("seq"), tail.get("prev_hash"), tail.get("hash"), tail.get("message_id")
    if type(seq) is not int or not isinstance(prev, str) or not isinstance(digest, str) or not isinstance(
        message_id, str
    ):
        raise MalformedLine("missing or mistyped seq / prev_hash / hash / message_id")
    return LineParts(line[:at] + line[end + 1 :], digest, prev, seq, message_id)
