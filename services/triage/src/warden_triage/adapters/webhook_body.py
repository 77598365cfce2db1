"""Turning a webhook body into the parsed payload a source normalises.

JSON for every source; CloudEvents additionally accepts binary HTTP mode (attributes in `ce-*`
headers, data in the body), decoded with the CloudEvents SDK into the structured form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from cloudevents.core.bindings.http import HTTPMessage, from_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from warden_contracts.canonical import canonical_json

BodyDecoder = Callable[[Mapping[str, str], bytes], Any]
# `\uD800`..`\uDFFF`, half of a surrogate pair or a lone one (an escaped backslash before `ud8..`
# also matches, and merely takes the full check).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyError(ValueError):
    """The body cannot be read at all (HTTP 400); `field` names the header at fault, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no lone surrogate escapes; raises BodyError."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise BodyError(f"body is not UTF-8: {err.reason}") from None
    except json.JSONDecodeError as err:
        raise BodyError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise BodyError("invalid JSON: nested too deeply") from None
    except ValueError as err:
        raise BodyError(f"invalid JSON: {err}") from None
    if _SURROGATE_ESCAPE.search(raw) is None:
        return value  # strict UTF-8 text holds no surrogate; only an escape can make one
    try:
        # A "\ud800" escape decodes to a str that no UTF-8 encoder (the bus, the audit log) accepts.
        canonical_json(value)
    except UnicodeEncodeError:
        raise BodyError("invalid JSON: a string holds a lone UTF-16 surrogate escape") from None
    except RecursionError:
        raise BodyError("invalid JSON: nested too deeply") from None
    return value


def json_body(_headers: Mapping[str, str], raw: bytes) -> Any:
    return parse_json(raw)


def _attribute(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def cloudevent_body(headers: Mapping[str, str], raw: bytes) -> Any:
    """Structured mode passes through as JSON; binary mode becomes the structured form."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if not any(k.startswith("ce-") for k in lowered):
        return parse_json(raw)
    if "ce-specversion" not in lowered:
        raise BodyError("binary-mode CloudEvent without ce-specversion", "ce-specversion")
    content_type = lowered.get("content-type", "application/json")
    if "json" not in content_type.lower():
        raise BodyError(f"CloudEvent data must be JSON, got content type {content_type[:64]!r}", "content-type")
    data = parse_json(raw) if raw else None
    try:
        event = from_binary(HTTPMessage(headers=dict(lowered), body=raw), JSONFormat())
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as err:
        raise BodyError(f"invalid binary-mode CloudEvent: {str(err)[:300]}") from None
    attributes = {name: _attribute(value) for name, value in event.get_attributes().items()}
    return attributes | {"data": data}
