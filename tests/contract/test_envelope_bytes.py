"""Envelope writing on the hot path: `derived_id` is uuid5 exactly, and `keep_bytes` is `to_bytes`
remembered only while the envelope is unchanged."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from warden_contracts.assembly import assemble
from warden_contracts.envelope import _NAMESPACE, Envelope, derived_id, envelope_for
from warden_contracts.events import AlertReceived

NAMES = [
    ("", ""),
    ("a", "b"),
    ("prometheus:39f1e50e0c03ce0f:2026-11-15T08:00:00+00:00@2026-11-15T08:00:00+00:00", "Fired"),
    ("ce:/subscriptions/x:évènement ☃ 𝄞", "cloudevent"),
    ("a/b/c", "d/e"),
    ("\x00\n\t\"'\\", "x" * 5000),
]


def _random_names(count: int) -> list[tuple[str, str]]:
    rnd = random.Random(15)
    alphabet = [chr(c) for c in (*range(1, 0x80), *range(0xA0, 0x3000), *range(0xE000, 0x10000, 97), 0x1D11E)]
    return [("".join(rnd.choices(alphabet, k=rnd.randrange(0, 40))), str(n)) for n in range(count)]


@pytest.mark.parametrize(("cause", "purpose"), NAMES)
def test_derived_id_is_uuid5_of_cause_and_purpose(cause: str, purpose: str) -> None:
    assert derived_id(cause, purpose) == str(uuid.uuid5(_NAMESPACE, f"{cause}/{purpose}"))


def test_derived_id_matches_uuid5_over_random_names() -> None:
    for cause, purpose in _random_names(5000):
        assert derived_id(cause, purpose) == str(uuid.uuid5(_NAMESPACE, f"{cause}/{purpose}"))


def test_derived_id_refuses_a_lone_surrogate_as_uuid5_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        uuid.uuid5(_NAMESPACE, "\ud800/x")
    with pytest.raises(UnicodeEncodeError):
        derived_id("\ud800", "x")


def _alert(**changes: object) -> AlertReceived:
    base: dict[str, object] = {
        "source_kind": "prometheus",
        "alert_id": "prometheus:abc:2026-11-15T08:00:00+00:00",
        "rule": "HighMemoryUsage",
        "status": "Fired",
        "resource_id": "checkout-pod-0",
        "fired_at": datetime(2026, 11, 15, 8, tzinfo=UTC),
        "labels": {"alertname": "HighMemoryUsage", "ünï": "cödé ☃"},
        "raw": {"float": 1e16, "small": 0.1, "none": None, "nested": {"list": [1, "two", None, True]}, "big": 2**70},
    }
    return AlertReceived.model_validate(base | changes)


def _envelope(**changes: object) -> Envelope:
    return envelope_for(
        "sre.alert.received.v1", _alert(**changes), source="warden/triage", correlationid="alert:x", subject="x", id="i"
    )


@pytest.mark.parametrize(
    "changes",
    [{}, {"service": None, "description": 'é\u2028\x00 "quoted" <tag> &amp;'}, {"raw": {}}, {"extra_field": [1.5]}],
)
def test_kept_bytes_are_the_model_dump(changes: dict[str, object]) -> None:
    envelope = _envelope(**changes)
    expected = envelope.model_dump_json(exclude_none=True).encode()
    assert envelope.keep_bytes() == expected
    assert envelope.to_bytes() == expected
    assert envelope.to_bytes() is envelope.to_bytes()  # kept, not written again
    assert Envelope.from_bytes(expected) == envelope


def test_kept_bytes_follow_a_change_to_the_envelope() -> None:
    envelope = _envelope()
    kept = envelope.keep_bytes()
    copy = envelope.model_copy(update={"subject": "other"})
    assert b'"subject":"other"' in copy.to_bytes()
    assert copy.to_bytes() == copy.model_dump_json(exclude_none=True).encode()
    deep = envelope.model_copy(deep=True)
    assert deep.to_bytes() == kept
    envelope.correlationid = "alert:y"
    assert b'"correlationid":"alert:y"' in envelope.to_bytes()
    envelope.unknown = "added"  # type: ignore[attr-defined]  # extra="allow"
    assert b'"unknown":"added"' in envelope.to_bytes()


def test_an_envelope_that_kept_its_bytes_equals_one_that_did_not() -> None:
    kept, plain = _envelope(), _envelope()
    plain.time = kept.time
    kept.keep_bytes()
    assert kept == plain and plain == kept


@pytest.mark.parametrize(
    ("subject", "dataschema", "causationid"),
    [("checkout", "urn:warden:schema:sre.alert.received.v1", None), (None, None, "cause-1"), ("", "", "")],
)
def test_an_assembled_envelope_is_what_validation_builds(
    subject: str | None, dataschema: str | None, causationid: str | None
) -> None:
    args = {
        "id": "e-1",
        "source": "warden/triage",
        "type": "sre.alert.received.v1",
        "subject": subject,
        "dataschema": dataschema,
        "correlationid": "alert:a",
        "causationid": causationid,
        "data": {"alert_id": "a", "labels": {"k": "v"}, "n": 1, "none": None},
    }
    assembled = Envelope.assembled(**args)
    validated = Envelope(**args, time=assembled.time)
    assert assembled.__dict__ == validated.__dict__
    assert list(assembled.__dict__) == list(validated.__dict__)  # field order: the JSON's order
    assert assembled.model_fields_set == validated.model_fields_set - {"time"}
    assert assembled.__pydantic_extra__ == validated.__pydantic_extra__
    assert assembled.__pydantic_private__ == validated.__pydantic_private__
    assert assembled.time.tzinfo is UTC
    assert assembled.to_bytes() == validated.to_bytes()
    assert assembled.keep_bytes() is assembled.to_bytes()
    assert Envelope.from_bytes(assembled.to_bytes()) == assembled


class _Forbidding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tags: list[str] = Field(default_factory=list)
    _seen: list[str] = PrivateAttr(default_factory=list)


class _Plain(BaseModel):
    name: str


@pytest.mark.parametrize("model", [_Forbidding, _Plain])
def test_assemble_leaves_a_model_as_validation_does(model: type[BaseModel]) -> None:
    fields = {"name": "n", "tags": ["a"]} if model is _Forbidding else {"name": "n"}
    built, validated = assemble(model, dict(fields), fields_set=fields.keys()), model.model_validate(fields)
    assert built == validated
    assert built.__dict__ == validated.__dict__
    assert built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__
    assert built.model_dump_json() == validated.model_dump_json()
