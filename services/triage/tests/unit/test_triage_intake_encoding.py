"""The webhook's hot path writes what the model path writes: each alert's envelope bytes, its
delivery id, and the same refusals for bad input (in the same order of fields)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.envelope import _NAMESPACE, Envelope, envelope_for
from warden_contracts.events import AlertReceived
from warden_testkit.triage import storm
from warden_triage.adapters.webhook import ALERT_TOPIC, SOURCE, alert_data, alert_envelope
from warden_triage.adapters.webhook_body import BodyError, parse_json
from warden_triage.domain.alertmanager import normalise_group
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.normalised import trusted_alert
from warden_triage.domain.source_detection import ROUTES, guess_source
from warden_triage.domain.sources import NormalisationError

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _alerts_of(name: str) -> list[Any]:
    payload = json.loads((FIXTURES / name).read_text())
    source = builtin_registry().by_route(ROUTES[guess_source(payload)])
    assert source is not None
    return source.normalise(payload)


# Binary-mode CloudEvents are decoded from HTTP headers, not from a body alone: the webhook source
# tests cover them.
BODY_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("cloudevents_binary"))


@pytest.mark.parametrize("name", BODY_FIXTURES)
def test_alert_envelope_bytes_are_the_model_dump(name: str) -> None:
    for alert in _alerts_of(name):
        envelope = alert_envelope(alert)
        expected = envelope.model_dump_json(exclude_none=True).encode()
        assert envelope.keep_bytes() == expected
        assert envelope.to_bytes() == expected
        assert Envelope.from_bytes(expected) == envelope
        if alert.source_kind != "cloudevents":
            name_ = f"{alert.alert_id}@{alert.fired_at.isoformat()}/{alert.status}"
            assert envelope.id == str(uuid.uuid5(_NAMESPACE, name_))


def _model_path_envelope(alert: AlertReceived, like: Envelope) -> Envelope:
    """What the webhook published before `alert_data`: `envelope_for` over pydantic's dump."""
    made = envelope_for(
        ALERT_TOPIC,
        alert,
        source=SOURCE,
        correlationid=f"alert:{alert.alert_id}",
        subject=alert.alert_id,
        id=like.id,
    )
    return made.model_copy(update={"time": like.time})


def _every_fixture_alert() -> list[AlertReceived]:
    alerts = [alert for name in BODY_FIXTURES for alert in _alerts_of(name)]
    source = builtin_registry().by_route("prometheus")
    assert source is not None
    return alerts + source.normalise(json.loads(json.dumps(storm(alerts=200).groups[0])))


@pytest.mark.parametrize("alert", _every_fixture_alert(), ids=lambda a: a.alert_id[:60])
def test_alert_envelope_is_what_envelope_for_wrote(alert: AlertReceived) -> None:
    envelope = alert_envelope(alert)
    before = _model_path_envelope(alert, envelope)
    assert alert_data(alert) == alert.model_dump(mode="json")
    assert list(alert_data(alert)) == list(alert.model_dump(mode="json"))
    assert envelope.keep_bytes() == before.model_dump_json(exclude_none=True).encode()
    assert envelope == before
    assert envelope.model_fields_set == before.model_fields_set - {"time"}  # set here by the copy
    assert envelope.__pydantic_extra__ == before.__pydantic_extra__ == {}
    assert envelope.payload(AlertReceived) == alert


def test_the_envelope_is_assembled_as_pydantic_would_build_it() -> None:
    (alert,) = normalise_group(_group(_item()), "prometheus", version="4")
    envelope = alert_envelope(alert)
    assert envelope.__pydantic_private__ == Envelope(**envelope.model_dump()).__pydantic_private__
    assert envelope.time.tzinfo is not None
    assert Envelope.from_bytes(envelope.keep_bytes()) == envelope
    assert envelope.to_bytes() is envelope.to_bytes()  # the kept bytes: the bus encodes nothing again


@pytest.mark.parametrize(
    "fired_at",
    ["2026-11-15T08:00:00Z", "2026-11-15T08:00:00.5+02:00", "2026-11-15T08:00:00.000123-05:30", "2026-11-15T08:00:00"],
)
def test_fired_at_is_written_as_pydantic_writes_it(fired_at: str) -> None:
    item = {"status": "firing", "startsAt": fired_at, "labels": {"alertname": "Up"}, "annotations": {"x": "y"}}
    (alert,) = normalise_group(_group(item, truncatedAlerts=2), "prometheus", version="4")
    envelope = alert_envelope(alert)
    assert envelope.keep_bytes() == _model_path_envelope(alert, envelope).model_dump_json(exclude_none=True).encode()


def test_an_alert_with_extra_fields_keeps_them_in_its_data() -> None:
    (alert,) = _alerts_of("cloudevents_structured.json")
    extended = AlertReceived.model_validate(alert.model_dump() | {"ticket": {"n": 1}})
    assert alert_data(extended) == extended.model_dump(mode="json")
    assert alert_data(extended)["ticket"] == {"n": 1}


def test_the_data_is_a_copy_of_the_alert_fields() -> None:
    (alert,) = normalise_group(_group(_item(pod="a")), "prometheus", version="4")
    data = alert_data(alert)
    data["labels"]["x"] = "y"
    data["raw"]["x"] = "y"
    assert "x" not in alert.labels
    assert "x" not in alert.raw


def _group(*alerts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {"version": "4", "status": "firing", "commonLabels": {"team": "shop"}}
    return base | fields | {"alerts": list(alerts)}


def _item(**labels: Any) -> dict[str, Any]:
    return {"status": "firing", "startsAt": "2026-11-15T08:00:00Z", "labels": {"alertname": "Up", **labels}}


def test_common_labels_are_read_once_and_shared_by_every_alert() -> None:
    alerts = normalise_group(_group(_item(pod="a"), _item(pod="b", team="payments")), "prometheus", version="4")
    assert [a.labels.get("team") for a in alerts] == ["shop", "payments"]
    assert list(alerts[1].labels) == ["team", "alertname", "pod"]  # common first, the alert's own after
    alerts[0].labels["x"] = "y"
    assert "x" not in alerts[1].labels


@pytest.mark.parametrize(
    ("group", "field"),
    [
        (_group(_item(bad=[1]), commonLabels={"c": {}}), "alerts[0].labels.bad"),
        (_group(_item(), _item(bad=[1]), commonLabels={"c": {}}), "commonLabels.c"),
        (_group(_item(), {"status": "firing", "startsAt": "2026-11-15T08:00:00Z"}, title=7), "title"),
        (_group(_item(), {"status": "firing", "startsAt": "2026-11-15T08:00:00Z"}), "alerts[1].labels.alertname"),
        (_group(_item(n=float("nan"))), "alerts[0].labels.n"),
        (_group(_item(long="x" * 9000)), "alerts[0].labels.long"),
    ],
)
def test_a_group_is_refused_at_the_field_it_was_refused_at_before(group: dict[str, Any], field: str) -> None:
    with pytest.raises(NormalisationError) as refused:
        normalise_group(copy.deepcopy(group), "prometheus", version="4")
    assert refused.value.field == field


def test_labels_of_numbers_and_booleans_still_read_as_text() -> None:
    (alert,) = normalise_group(_group(_item(n=5, ok=True, f=1.5)), "prometheus", version="4")
    assert (alert.labels["n"], alert.labels["ok"], alert.labels["f"]) == ("5", "True", "1.5")


@pytest.mark.parametrize(
    "raw", [rb'{"a":"\ud83d\ude00"}', rb'{"a":"\\ud800"}', rb'{"a":"\u00e9\u0026"}', '{"a":"é 𝄞"}'.encode()]
)
def test_text_that_only_looks_like_a_surrogate_is_accepted(raw: bytes) -> None:
    assert parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [rb'{"a":"\ud800"}', rb'["\uDFFF"]', rb'{"\udbff":1}'])
def test_a_lone_surrogate_escape_is_still_refused(raw: bytes) -> None:
    with pytest.raises(BodyError, match="surrogate"):
        parse_json(raw)


@pytest.mark.parametrize("alert", _every_fixture_alert(), ids=lambda a: a.alert_id[:60])
def test_a_trusted_alert_is_the_validated_alert(alert: AlertReceived) -> None:
    fields = alert.model_dump()
    validated = AlertReceived.model_validate(fields)
    built = trusted_alert(dict(fields))
    assert built == validated == alert
    assert built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__
    assert built.model_dump_json() == validated.model_dump_json()
    assert type(built.severity) is type(validated.severity)


def test_fields_a_trusted_alert_cannot_take_as_they_are_are_validated() -> None:
    (alert,) = normalise_group(_group(_item()), "prometheus", version="4")
    reordered = dict(reversed(alert.model_dump().items()))
    assert list(trusted_alert(reordered).model_dump()) == list(AlertReceived.model_fields)
    with pytest.raises(ValueError, match="status"):
        trusted_alert({**alert.model_dump(), "status": "Firing", "extra": 1})
