"""Pass-through source: a body that already is an `AlertReceived` (what `warden ingest` sends)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from warden_contracts.assembly import assemble
from warden_contracts.events import AlertReceived

from warden_triage.domain.sources import NormalisationError, require_mapping

_REQUIRED_TEXT = ("source_kind", "alert_id", "rule", "resource_id")
_ALERT_FIELDS = tuple(AlertReceived.model_fields)


def trusted_alert(fields: dict[str, Any]) -> AlertReceived:
    """`AlertReceived.model_validate(fields)` for fields a source parser has just checked one by
    one: each of the type the model declares (a `Severity`, an aware `datetime`, a dict of str
    to str, ...), every field present, in declaration order, in dicts made for this alert alone
    (`warden_contracts.assembly`). Fields in another order or set are validated."""
    if tuple(fields) != _ALERT_FIELDS:
        return AlertReceived.model_validate(fields)
    return assemble(AlertReceived, fields, fields_set=fields.keys())


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def parse_normalised(payload: Any) -> AlertReceived:
    body = require_mapping(payload, "$")
    if not str(body.get("environment") or "").strip():
        # The contract's default is dev; an alert that does not say is never assumed to be dev.
        body = {**body, "environment": "unknown"}
    try:
        alert = AlertReceived.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        raise NormalisationError(_path(tuple(first["loc"])), first["msg"]) from None
    for name in _REQUIRED_TEXT:
        if not str(getattr(alert, name)).strip():
            raise NormalisationError(name, "must not be empty")
    return alert


class NormalisedSource:
    """Webhook source for `POST /webhooks/alerts`."""

    route = "alerts"

    def normalise(self, payload: Any) -> list[AlertReceived]:
        return [parse_normalised(payload)]
