"""`parse` reads a valid message in one pass (`warden_contracts.reading`) and must answer exactly
what validating the envelope and then its payload answers: the same envelope (fields, their
order and types, fields set, extras, `data` as sent, bytes), the payload remembered, and for
anything invalid the same PoisonMessage reason.

Inputs: realistic messages of several topics, those with one node of the envelope or of `data`
replaced by arbitrary JSON, and their bytes cut, doubled keys and stray bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warden_bus.inbound import parse, parse_in_two_passes
from warden_bus.port import PoisonMessage
from warden_contracts import reading
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import AlertReceived, DeadLettered, PlanProposed, PolicyDecided
from warden_testkit.contracts import alert, incident
from warden_testkit.json_documents import node_paths

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 11, 15, 8, tzinfo=UTC)


def _storm_alert() -> Envelope:
    labels = {"alertname": "HighMemoryUsage", "service": "checkout", "pod": "checkout-0", "ünï": "cödé ☃"}
    payload = AlertReceived(
        source_kind="prometheus",
        alert_id="prometheus:39f1e50e0c03ce0f:2026-11-15T08:00:00+00:00",
        rule="HighMemoryUsage",
        status="Fired",
        resource_id="checkout-0",
        service="checkout",
        environment="prod",
        signal="Metric",
        fired_at=T0,
        labels=labels,
        raw={"version": "4", "alert": {"labels": labels, "startsAt": "2026-11-15T08:00:00Z"}, "n": 2**70, "f": 0.1},
    )
    return envelope_for(topo.topic("sre.alert.received.v1").name, payload, source="warden/triage", correlationid="a")


def _plan() -> Envelope:
    payload = PlanProposed.model_validate(
        {
            "incident_id": "inc-1",
            "plan_id": "p-1",
            "incident_class": "memory_pressure",
            "environment": "prod",
            "runbook": "memory_pressure",
            "summary": "restart the pod",
            "evidence": [{"tool": "prom", "params": {"q": "m"}, "result": {"v": [1, 2.5]}, "observed_at": T0}],
            "actions": [
                {"action_id": "a1", "kind": "restart", "target": "/r", "params": {}, "rationale": "x", "confidence": 1}
            ],
        }
    )
    return envelope_for("sre.plan.proposed.v1", payload, source="warden/planner", correlationid="inc-1")


def _decided() -> Envelope:
    payload = PolicyDecided(
        incident_id="inc-1", action_id="a1", kind="restart", target="/r", tier=1, run_mode="auto", outcome="execute"
    )
    return envelope_for("sre.policy.decided.v1", payload, source="warden/policy", correlationid="inc-1")


def _dead_letter() -> Envelope:
    payload = DeadLettered(service="triage", topic="sre.alert.received.v1", reason="r", deliveries=1)
    envelope = envelope_for(topo.DEADLETTER_TOPIC, payload, source="warden/triage", correlationid="c")
    return envelope.model_copy(update={"type": f"{topo.DEADLETTER_TOPIC}.triage"})


MESSAGES = [alert(1), _storm_alert(), incident(1), _plan(), _decided(), _dead_letter()]
SAMPLES = [(topo.topic(m.type if m.type in topo.BY_NAME else topo.DEADLETTER_TOPIC), m.to_bytes()) for m in MESSAGES]


def _outcome(parser: Any, topic: topo.Topic, raw: bytes) -> tuple[Any, ...]:
    try:
        envelope = parser(topic, raw)
    except PoisonMessage as err:
        return ("poison", str(err))
    # Defaults that differ on every validation (a new id, now): the same in both readings if absent.
    for name, fixed in (("id", "<new id>"), ("time", T0)):
        if name not in envelope.model_fields_set:
            envelope.__dict__[name] = fixed
    payload = envelope.payload(topic.payload)
    assert envelope.payload(topic.payload) is payload  # remembered, not validated again
    return (
        "ok",
        envelope,
        repr(envelope.__dict__),  # field order, and the order and types inside `data`, as sent
        envelope.model_fields_set,
        envelope.__pydantic_extra__,
        payload,
        repr(payload.__dict__),
        payload.model_fields_set,
        payload.__pydantic_extra__,
        envelope.to_bytes(),
        envelope.keep_bytes(),
        envelope.to_bytes(),
    )


def _assert_same(topic: topo.Topic, raw: bytes) -> tuple[Any, ...]:
    new, old = _outcome(parse, topic, raw), _outcome(parse_in_two_passes, topic, raw)
    assert new == old
    return new


@pytest.mark.parametrize(("topic", "raw"), SAMPLES, ids=[t.name for t, _ in SAMPLES])
def test_a_valid_message_is_read_in_one_pass_as_two_passes_read_it(topic: topo.Topic, raw: bytes) -> None:
    assert reading.read(raw, topic.payload) is not None  # the one-pass reading is what parse used
    assert _assert_same(topic, raw)[0] == "ok"


@pytest.mark.parametrize(
    ("topic", "raw", "reason"),
    [
        (SAMPLES[0][0], b"{", "malformed envelope: <root>: Invalid JSON"),
        (SAMPLES[0][0], b"[]", "malformed envelope: <root>: Input should be an object"),
        (SAMPLES[0][0], SAMPLES[2][1], "wrong type: 'sre.incident.changed.v1' published on 'sre.alert.received.v1'"),
        (SAMPLES[0][0], SAMPLES[0][1].replace(b'"Fired"', b'"Maybe"'), "schema violation for sre.alert.received.v1"),
        (SAMPLES[0][0], SAMPLES[0][1].replace(b'"data":{', b'"data":3,"x":{'), "malformed envelope: data"),
    ],
)
def test_an_invalid_message_gets_the_two_pass_reason(topic: topo.Topic, raw: bytes, reason: str) -> None:
    outcome = _assert_same(topic, raw)
    assert outcome[0] == "poison" and outcome[1].startswith(reason)


def test_extension_attributes_are_kept_as_two_passes_keep_them() -> None:
    topic, raw = SAMPLES[0]
    document = json.loads(raw) | {"traceparent": "00-abc-01", "extnum": 3}
    outcome = _assert_same(topic, json.dumps(document).encode())
    assert outcome[0] == "ok" and outcome[4] == {"traceparent": "00-abc-01", "extnum": 3}


# NaN is left out only because it equals nothing, so two equal readings would compare unequal.
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[topo.Topic, bytes]:
    topic, raw = draw(st.sampled_from(SAMPLES))
    topic = draw(st.sampled_from([topic, topic, topic, *(t for t, _ in SAMPLES)]))
    document = json.loads(raw)
    change = draw(st.sampled_from(["replace", "delete", "add", "none"]))
    path = draw(st.sampled_from(node_paths(document)))
    if change == "replace" or (change == "delete" and not path):
        document = _put(document, path, draw(json_values))
    elif change == "delete":
        _parent(document, path).pop(path[-1])
    elif change == "add":
        key = draw(st.sampled_from(["id", "type", "time", "data", "subject", "specversion", "x"]) | st.text(max_size=8))
        node = _parent(document, (*path, key)) if isinstance(_at(document, path), dict) else document
        node[key] = draw(json_values)
    text = json.dumps(document, ensure_ascii=draw(st.booleans())).encode()
    edit = draw(st.sampled_from(["none", "none", "cut", "dup", "bytes"]))
    if edit == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif edit == "dup":  # a key given twice: the last one counts, in both readings
        text = text.replace(b'{"', b'{"' + draw(st.sampled_from([b"data", b"type", b"time", b"id"])) + b'":1,"', 1)
    elif edit == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=3)) + text[at:]
    return topic, text


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    return _at(document, path[:-1])


def _put(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _parent(document, path)[path[-1]] = value
    return document


@FUZZ
@given(mutated())
def test_parse_answers_what_two_passes_answer_for_any_bytes(message: tuple[topo.Topic, bytes]) -> None:
    _assert_same(*message)


def test_the_one_pass_reader_has_every_check_the_envelope_has() -> None:
    # `reading` copies the envelope's fields and config, not its validator methods: a validator
    # added to `Envelope` would be skipped on the one-pass path unless `reading` learns it too.
    decorators = Envelope.__pydantic_decorators__
    validators = (
        decorators.validators,
        decorators.field_validators,
        decorators.root_validators,
        decorators.model_validators,
        decorators.field_serializers,
        decorators.model_serializers,
    )
    assert not any(validators), "Envelope has validators or serializers that warden_contracts.reading does not copy"
