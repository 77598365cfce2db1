"""Fuzz every parser: whatever arrives, the answer is an alert or a clean validation error.

Two generators: arbitrary JSON, and the fixture payloads with one node replaced by arbitrary JSON
(which reaches the deep branches a random document never gets to). Every alert that comes out
must also survive what happens to it next: envelope, fingerprint, classification.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warden_contracts.events import AlertReceived
from warden_testkit.json_documents import node_paths
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.adapters.webhook import alert_envelope
from warden_triage.adapters.webhook_body import BodyError, cloudevent_body, parse_json
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.sources import NormalisationError

FIXTURES = Path(__file__).parent.parent / "fixtures"
REGISTRY = builtin_registry()
CLASSIFIER = load_classifier()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def _fixtures(prefix: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob(f"{prefix}*.json"))]


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


def mutated(prefix: str) -> st.SearchStrategy[Any]:
    documents = _fixtures(prefix)
    assert documents, prefix

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        document = draw(st.sampled_from(documents))
        path = draw(st.sampled_from(node_paths(document)))
        return _replace(document, path, draw(json_values))

    return build()


def check(route: str, payload: Any) -> None:
    source = REGISTRY.by_route(route)
    assert source is not None
    try:
        alerts = source.normalise(payload)
    except NormalisationError as err:
        assert err.field and err.message
        return
    for alert in alerts:
        assert isinstance(alert, AlertReceived) and alert.alert_id and alert.rule and alert.resource_id
        # Built without validating again (`trusted_alert`): what validation would have made.
        validated = AlertReceived.model_validate(alert.model_dump())
        assert alert == validated and alert.model_fields_set == validated.model_fields_set
        assert alert.model_dump_json() == validated.model_dump_json()
        alert_envelope(alert).to_bytes()
        REGISTRY.fingerprint(alert)
        CLASSIFIER.classify(alert)


def _fuzz(route: str, prefix: str) -> Callable[[], None]:
    @FUZZ
    @given(payload=json_values | mutated(prefix))
    def run(payload: Any) -> None:
        check(route, payload)

    return run


test_azure_monitor_parser = _fuzz("azure-monitor", "azure_")
test_prometheus_parser = _fuzz("prometheus", "prometheus_")
test_grafana_parser = _fuzz("grafana", "grafana_")
test_cloudevents_parser = _fuzz("cloudevents", "cloudevents_structured")


@FUZZ
@given(
    payload=json_values | st.fixed_dictionaries({"source_kind": st.text(), "alert_id": st.text(), "rule": st.text()})
)
def test_normalised_parser(payload: Any) -> None:
    check("alerts", payload)


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_json_body_reader(raw: bytes) -> None:
    try:
        parse_json(raw)
    except BodyError as err:
        assert str(err)


def test_json_body_reader_refuses_what_the_bus_could_not_carry() -> None:
    for raw, reason in [
        (b'{"a": NaN}', "NaN"),
        (b'"\\ud800"', "surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe", "UTF-8"),
    ]:
        try:
            parse_json(raw)
        except BodyError as err:
            assert reason in str(err)
        else:
            raise AssertionError(f"{raw[:20]!r} was accepted")


header_names = st.sampled_from(
    ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "ce-subject", "content-type", "ce-x"]
)


@FUZZ
@given(
    headers=st.dictionaries(header_names, st.text(max_size=30), max_size=6),
    raw=st.binary(max_size=80) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_cloudevents_binary_reader(headers: dict[str, str], raw: bytes) -> None:
    try:
        payload = cloudevent_body(headers, raw)
    except BodyError as err:
        assert str(err)
        return
    check("cloudevents", payload)
