"""Field readers shared by the source parsers: each names the dotted path at fault when it refuses.

Bounds are deliberate: a source may send anything, and an unbounded label map or string would let
one webhook call inflate every message derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from warden_triage.domain.sources import NormalisationError, require_mapping

MAX_TEXT = 2048
MAX_DESCRIPTION = 8192
MAX_LABELS = 64
MAX_ALERTS_PER_CALL = 1000


def optional_text(container: Mapping[str, Any], key: str, path: str, *, max_len: int = MAX_TEXT) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise NormalisationError(path, "must be a string")
    value = value.strip()
    if len(value) > max_len:
        raise NormalisationError(path, f"is longer than {max_len} characters")
    return value or None


def required_text(container: Mapping[str, Any], key: str, path: str, *, max_len: int = MAX_TEXT) -> str:
    if container.get(key) is None:
        raise NormalisationError(path, "is required")
    value = optional_text(container, key, path, max_len=max_len)
    if value is None:
        raise NormalisationError(path, "must not be empty")
    return value


def parse_time(text: str, path: str) -> datetime:
    """ISO 8601 / RFC 3339, with `Z`; a naive timestamp is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NormalisationError(path, f"is not an ISO 8601 timestamp: {text[:64]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plain_strings(mapping: Mapping[str, Any]) -> bool:
    """A dict of str to str, each within the bounds `string_map` holds: nothing to convert.
    One loop over the items (half the time of two `all` passes: twice per alert)."""
    if type(mapping) is not dict:
        return False
    for key, item in mapping.items():
        if type(item) is not str or type(key) is not str or len(item) > MAX_DESCRIPTION or len(key) > MAX_TEXT:
            return False
    return True


def string_map(value: Any, path: str, *, max_items: int = MAX_LABELS) -> dict[str, str]:
    """A JSON object of short strings (Prometheus labels and annotations are exactly that)."""
    checked = checked_string_map(value, path, max_items=max_items)
    # Either `value` itself, or a dict made here (empty, or the converted values).
    return dict(checked) if checked is value else cast(dict[str, str], checked)


def checked_string_map(value: Any, path: str, *, max_items: int = MAX_LABELS) -> Mapping[str, str]:
    """`string_map` without its copy when `value` already is one: for a caller that only reads it,
    or copies it anyway (an alert's labels go into a new dict with the common labels)."""
    if value is None:
        return {}
    mapping = require_mapping(value, path)
    if len(mapping) > max_items:
        raise NormalisationError(path, f"has more than {max_items} entries")
    if _plain_strings(mapping):  # the common case (Prometheus labels are strings)
        return mapping
    out: dict[str, str] = {}
    for key, item in mapping.items():
        if not isinstance(item, str | int | float | bool) or (isinstance(item, float) and item != item):
            raise NormalisationError(f"{path}.{key}", "must be a string, number or boolean")
        text = str(item)
        if len(key) > MAX_TEXT or len(text) > MAX_DESCRIPTION:
            raise NormalisationError(f"{path}.{key}", f"is longer than {MAX_DESCRIPTION} characters")
        out[str(key)] = text
    return out


def object_list(value: Any, path: str, *, max_items: int = MAX_ALERTS_PER_CALL) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        raise NormalisationError(path, "must be a list")
    if len(value) > max_items:
        raise NormalisationError(path, f"holds more than {max_items} items")
    return [require_mapping(item, f"{path}[{index}]") for index, item in enumerate(value)]
