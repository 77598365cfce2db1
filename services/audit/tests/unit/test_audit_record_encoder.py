"""The record encoder writes exactly the bytes the chain is defined by: `canonical_json` of the record
without `hash`, then `hash` put where sorting puts it. RFC 8785 vectors pin what canonical means."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from warden_audit.domain.chain import GENESIS_HASH, build_record, encode_record, iso_utc, split_line
from warden_contracts.canonical import canonical_json

AT = datetime(2026, 11, 21, 10, 0, 0, 250_000, tzinfo=UTC)


def reference_line(seq: int, prev: str, envelope: dict[str, Any], at: datetime, extra: dict[str, Any] | None) -> bytes:
    """The line as the chain defines it (and as the encoder before this one built it): the body
    through `canonical_json`, hashed, and `"hash"` inserted before the first flat member."""
    body = {
        **(extra or {}),
        "seq": seq,
        "recorded_at": iso_utc(at),
        "message_id": str(envelope["id"]),
        "type": envelope.get("type"),
        "source": envelope.get("source"),
        "correlationid": envelope.get("correlationid"),
        "causationid": envelope.get("causationid"),
        "subject": envelope.get("subject"),
        "envelope": dict(envelope),
        "prev_hash": prev,
    }
    hashed = canonical_json(body)
    digest = hashlib.sha256(hashed).hexdigest().encode()
    at_id = hashed.rfind(b',"message_id":"')
    return hashed[:at_id] + b',"hash":"' + digest + b'"' + hashed[at_id:] + b"\n"


# RFC 8785 section 3.2.2 / 3.2.3 vectors. Floats other than these are outside the catalog (see
# warden_contracts.canonical); the ones here format the same in Python and in ECMAScript.
RFC8785_VECTORS = [
    (
        {
            "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
            "literals": [None, True, False],
        },
        b'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        b'"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    (
        {"\u20ac": "Euro Sign", "\r": "Carriage Return", "1": "One", "\u0080": "Control", "\u00f6": "o uml"},
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"o uml","\u20ac":"Euro Sign"}'.encode(),
    ),
    (
        {"a": [], "b": {}, "c": [[]], "d": 0, "e": -1, "f": 9007199254740991},
        b'{"a":[],"b":{},"c":[[]],"d":0,"e":-1,"f":9007199254740991}',
    ),
    ("\u2028\u2029\x7f\x00\x1f\b\f\t", b'"\xe2\x80\xa8\xe2\x80\xa9\x7f\\u0000\\u001f\\b\\f\\t"'),
]


@pytest.mark.parametrize(("value", "expected"), RFC8785_VECTORS)
def test_rfc8785_vectors_inside_the_catalog(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected
    record = build_record(1, GENESIS_HASH, {"id": "m-1", "data": value}, AT)
    assert b'"data":' + expected + b"," in encode_record(record) or b'"data":' + expected + b"}" in encode_record(
        record
    )
    assert encode_record(record) == reference_line(1, GENESIS_HASH, {"id": "m-1", "data": value}, AT, None)


def test_known_departures_from_rfc8785_stay_as_the_log_has_them() -> None:
    """Keys outside the BMP sort by code point (RFC 8785: UTF-16 units) and floats keep Python's
    repr: what existing logs hold. The encoder must keep them, or old records would not re-hash."""
    keys = {"\ufb33": 1, "\U0001f600": 2}
    assert canonical_json(keys) == '{"\ufb33":1,"\U0001f600":2}'.encode()
    assert canonical_json([1e16, 1e-05, 1e21]) == b"[1e+16,1e-05,1e+21]"
    for value in (keys, [1e16, 1e-05, 1e21, -0.0, math.inf, math.nan]):
        envelope = {"id": "m-1", "data": value}
        assert encode_record(build_record(1, GENESIS_HASH, envelope, AT)) == reference_line(
            1, GENESIS_HASH, envelope, AT, None
        )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=20,
)
scalar_or_absent = st.none() | st.text(max_size=12) | st.integers() | st.booleans()


@settings(max_examples=400, deadline=None)
@given(
    message_id=st.text(min_size=1, max_size=20) | st.integers(),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "type": scalar_or_absent,
            "source": scalar_or_absent,
            "subject": scalar_or_absent,
            "correlationid": scalar_or_absent,
            "causationid": scalar_or_absent,
            "data": json_values,
        },
    ),
    extra=st.none()
    | st.dictionaries(st.sampled_from(["actor", "erasable", "causationid", "envelope", "a", "h"]), json_values),
    seq=st.integers(min_value=1, max_value=2**40),
)
def test_encoder_writes_exactly_the_reference_bytes(
    message_id: Any, fields: dict[str, Any], extra: dict[str, Any] | None, seq: int
) -> None:
    envelope = {"id": message_id, **fields}
    try:
        expected = reference_line(seq, "ab" * 32, envelope, AT, extra)
    except UnicodeEncodeError:  # a lone surrogate: not encodable either way
        with pytest.raises(UnicodeEncodeError):
            build_record(seq, "ab" * 32, envelope, AT, extra)
        return
    record = build_record(seq, "ab" * 32, envelope, AT, extra)
    assert encode_record(record) == expected
    parts = split_line(expected[:-1])
    assert hashlib.sha256(parts.hashed).hexdigest() == record["hash"] == parts.hash
    assert record.digest == bytes.fromhex(record["hash"])
    assert encode_record(dict(record)) == expected  # a plain copy re-encodes to the same line


def test_a_preformatted_timestamp_gives_the_same_record() -> None:
    envelope = {"id": "m-1", "type": "t", "data": {"x": 1}}
    assert build_record(2, GENESIS_HASH, envelope, iso_utc(AT)).line == build_record(2, GENESIS_HASH, envelope, AT).line


def test_record_members_parse_back_to_the_record() -> None:
    record = build_record(3, GENESIS_HASH, {"id": "m-3", "source": "s", "data": {"é": "✓"}}, AT, {"actor": {"a": 1}})
    assert json.loads(encode_record(record)) == record
