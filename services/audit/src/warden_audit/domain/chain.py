"""The hash chain: how a record is built, hashed, written as one line and read back cheaply.

A record is one canonical JSON object per line. Its `hash` is the SHA-256 of the canonical JSON of
the record without `hash`, and `prev_hash` links it to the record before (genesis: 64 zeros).

Keys are sorted and the nested values (`actor`, `envelope`, `erasable`, and any member added later)
sort before `hash`, so everything after the top-level `"hash"` member is a flat run of scalars.
That lets readers split a line into "bytes that were hashed" and "chain fields" without parsing
the envelope (see `split_line`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from warden_contracts.canonical import canonical_json, sha256_hex

GENESIS_HASH = "0" * 64
HASH_HEX_LEN = 64
_HASH_MEMBER = b',"hash":"'
_ID_MEMBER = b'"message_id":"'
_PREV_MEMBER = b'","prev_hash":"'
_AT_MEMBER = b'","recorded_at":"'
_SEQ_MEMBER = b',"seq":'
_SOURCE_MEMBER = b',"source":'


class MalformedLine(ValueError):
    """A line that is not a record written by this module."""


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ChainRecord(dict[str, Any]):
    """A record as `build_record` made it, with the line it is stored as: encoded once, when
    hashed. Never modified afterwards (a changed copy is a plain dict and is encoded afresh)."""

    __slots__ = ("digest", "line")
    line: bytes
    digest: bytes  # the raw SHA-256 whose hex is `hash`: the Merkle leaf is built from it


def build_record(
    seq: int,
    prev_hash: str,
    envelope: Mapping[str, Any],
    recorded_at: datetime | str,
    extra: Mapping[str, Any] | None = None,
) -> ChainRecord:
    """The record for `envelope` (a JSON-compatible dict of the CloudEvent) at position `seq`.

    `extra` adds nested members (`actor`, `personal`); they must sort before `hash` (see above).
    `recorded_at` may be given already formatted (`iso_utc`): a batch shares one instant.
    """
    if extra:
        for key in extra:
            if key >= "hash":
                raise ValueError(f"extra record member {key!r} must sort before 'hash'")
    at = recorded_at if isinstance(recorded_at, str) else iso_utc(recorded_at)
    message_id = str(envelope["id"])
    kind, source, subject = envelope.get("type"), envelope.get("source"), envelope.get("subject")
    # Every member that sorts before `hash` (the nested ones) goes in one object, and the flat
    # tail is written by hand: together exactly `canonical_json(body)`, sorted and walked once.
    head: dict[str, Any] = dict(extra) if extra else {}
    head["causationid"] = envelope.get("causationid")
    head["correlationid"] = envelope.get("correlationid")
    head["envelope"] = dict(envelope)
    prefix = _encode(head)[:-1].encode()
    tail = (
        f',"message_id":{_scalar(message_id)},"prev_hash":{_scalar(prev_hash)},"recorded_at":{_scalar(at)}'
        f',"seq":{_scalar(seq)},"source":{_scalar(source)},"subject":{_scalar(subject)},"type":{_scalar(kind)}}}'
    ).encode()
    digest = hashlib.sha256(prefix)
    digest.update(tail)
    hex_digest = digest.hexdigest()
    record = ChainRecord(head)
    record.update(
        hash=hex_digest,
        message_id=message_id,
        prev_hash=prev_hash,
        recorded_at=at,
        seq=seq,
        source=source,
        subject=subject,
        type=kind,
    )
    record.line = b'%s,"hash":"%s"%s\n' % (prefix, hex_digest.encode(), tail)
    record.digest = digest.digest()
    return record


def _canonical_encoder() -> Callable[[Any], str]:
    """`canonical_json`'s encoder (same options, same bytes, as str) built once instead of per call.

    Without a cycle check: a record is a tree decoded from JSON, and a cycle would still fail
    (RecursionError instead of ValueError)."""
    options = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "default": str}
    if c_make_encoder is None:  # the pure-Python json module: its own encoder, unchanged
        return json.JSONEncoder(**options).encode  # type: ignore[arg-type]
    chunks = c_make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True)
    return lambda value: "".join(chunks(value, 0))


_encode = _canonical_encoder()


def _scalar(value: Any) -> str:
    if type(value) is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    return _encode(value)


def record_hash(record: Mapping[str, Any]) -> str:
    """Recompute a record's hash from its content (its own `hash` field excluded)."""
    return sha256_hex({k: v for k, v in record.items() if k != "hash"})


def encode_record(record: Mapping[str, Any]) -> bytes:
    if type(record) is ChainRecord:
        return record.line
    return canonical_json(record) + b"\n"


class LineParts(NamedTuple):
    hashed: bytes  # exactly the bytes whose SHA-256 must equal `hash`
    hash: str
    prev_hash: str
    seq: int
    message_id: str


def split_line(line: bytes) -> LineParts:
    """Split a stored line (without its newline) into hashed bytes and chain fields.

    Reads only the short scalar tail, never the envelope: this is the hot path of verification and
    of start-up recovery. Any edited byte changes `hashed`, so the hash check stays total. Inside a
    JSON string every quote is escaped, so a bare `,"` only ever starts a member.
    """
    at = line.rfind(_HASH_MEMBER)
    if at < 0 or not line.startswith(b"{") or not line.endswith(b"}"):
        raise MalformedLine("not a chain record")
    start = at + len(_HASH_MEMBER)
    end = start + HASH_HEX_LEN
    if line[end : end + 2] != b'",':
        raise MalformedLine("hash member is not 64 characters followed by more fields")
    hashed = line[:at] + line[end + 1 :]
    digest = line[start:end].decode("ascii", errors="replace")
    parts = _split_fast(line, end + 2, hashed, digest)
    return parts if parts is not None else _split_generic(line[at + 1 :], hashed, digest)


def _split_fast(line: bytes, pos: int, hashed: bytes, digest: str) -> LineParts | None:
    """The tail exactly as `encode_record` writes it, or None to take the general path."""
    if not line.startswith(_ID_MEMBER, pos):
        return None
    id_start = pos + len(_ID_MEMBER)
    id_end = line.find(_PREV_MEMBER, id_start)
    if id_end < 0:
        return None
    prev_start = id_end + len(_PREV_MEMBER)
    prev_end = prev_start + HASH_HEX_LEN
    seq_at = line.find(_SEQ_MEMBER, prev_end)
    source_at = line.find(_SOURCE_MEMBER, seq_at)
    raw_id, raw_seq = line[id_start:id_end], line[seq_at + len(_SEQ_MEMBER) : source_at]
    if (
        not line.startswith(_AT_MEMBER, prev_end)
        or seq_at < 0
        or source_at < 0
        or not raw_seq.isdigit()
        or b"\\" in raw_id
    ):
        return None
    return LineParts(
        hashed,
        digest,
        line[prev_start:prev_end].decode("ascii", errors="replace"),
        int(raw_seq),
        raw_id.decode("utf-8", errors="replace"),
    )


def _split_generic(tail_bytes: bytes, hashed: bytes, digest: str) -> LineParts:
    """Slow path: any flat tail (e.g. fields added later), validated field by field."""
    try:
        tail = json.loads(b"{" + tail_bytes)
    except ValueError as err:
        raise MalformedLine(f"unparsable chain fields: {err}") from None
    seq, prev, message_id = tail.get("seq"), tail.get("prev_hash"), tail.get("message_id")
    if type(seq) is not int or not isinstance(prev, str) or not isinstance(message_id, str):
        raise MalformedLine("missing or mistyped seq / prev_hash / message_id")
    if tail.get("hash") != digest or any(isinstance(v, dict | list) for v in tail.values()):
        raise MalformedLine("chain fields after the hash must be flat scalars")
    return LineParts(hashed, digest, prev, seq, message_id)
