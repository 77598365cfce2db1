"""The record format: fields, hash, one canonical line, and the cheap split used by verify."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from warden_audit.domain.chain import (
    GENESIS_HASH,
    MalformedLine,
    build_record,
    encode_record,
    record_hash,
    split_line,
)
from warden_contracts.canonical import canonical_json

AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def envelope(message_id: str = "m-1", **extra: object) -> dict[str, object]:
    return {
        "id": message_id,
        "source": "warden/triage",
        "type": "sre.incident.changed.v1",
        "correlationid": "inc-1",
        "causationid": "a-1",
        "subject": "checkout",
        "data": {"incident_id": "inc-1", "hash": "not-the-record-hash"},
        **extra,
    }


def test_record_carries_envelope_identity_and_links_to_genesis() -> None:
    record = build_record(1, GENESIS_HASH, envelope(), AT)
    assert record["seq"] == 1
    assert record["prev_hash"] == "0" * 64
    assert record["recorded_at"] == "2026-11-21T10:00:00Z"
    assert (record["message_id"], record["type"], record["source"]) == (
        "m-1",
        "sre.incident.changed.v1",
        "warden/triage",
    )
    assert (record["correlationid"], record["causationid"], record["subject"]) == ("inc-1", "a-1", "checkout")
    assert record["envelope"] == envelope()


def test_hash_is_sha256_of_canonical_record_without_hash() -> None:
    record = build_record(7, "ab" * 32, envelope(), AT)
    body = {k: v for k, v in record.items() if k != "hash"}
    assert record["hash"] == hashlib.sha256(canonical_json(body)).hexdigest()
    assert record_hash(record) == record["hash"]
    changed = {**record, "envelope": {**record["envelope"], "subject": "payments"}}
    assert record_hash(changed) != record["hash"]


def test_line_is_canonical_json_and_split_recovers_the_hashed_bytes() -> None:
    record = build_record(3, "cd" * 32, envelope(), AT)
    line = encode_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == record
    parts = split_line(line[:-1])
    assert hashlib.sha256(parts.hashed).hexdigest() == record["hash"] == parts.hash
    assert (parts.seq, parts.prev_hash, parts.message_id) == (3, "cd" * 32, "m-1")


@pytest.mark.parametrize("message_id", ['quote"inside', "back\\slash", 'x","prev_hash":"', "unicodé-✓"])
def test_split_handles_awkward_message_ids(message_id: str) -> None:
    record = build_record(2, GENESIS_HASH, envelope(message_id), AT)
    parts = split_line(encode_record(record)[:-1])
    assert parts.message_id == message_id
    assert parts.seq == 2
    assert hashlib.sha256(parts.hashed).hexdigest() == record["hash"]


def test_split_accepts_flat_fields_added_after_hash_later() -> None:
    record = build_record(4, GENESIS_HASH, envelope(), AT)
    line = canonical_json({**record, "key_id": "k1"})  # a future scalar field sorting after "hash"
    parts = split_line(line)
    assert (parts.seq, parts.message_id) == (4, "m-1")


@pytest.mark.parametrize("line", [b"{bad", b"", b"[]", b'{"hash":"short","seq":1}', b"\x00" * 40])
def test_split_rejects_what_is_not_a_record(line: bytes) -> None:
    with pytest.raises(MalformedLine):
        split_line(line)
