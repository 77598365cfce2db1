"""The source-adapter registry: one normaliser per alert source, plus how its alerts fingerprint.

A new source (Prometheus Alertmanager, Grafana, CloudEvents) registers here with a webhook route
name and the declared structural fields its fingerprint hashes; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden_contracts.events import AlertReceived

from warden_triage.domain.fingerprint import DEFAULT_FINGERPRINT_FIELDS, fingerprint, validate_fields


class NormalisationError(ValueError):
    """A payload that cannot become an `AlertReceived`; `field` is the dotted path at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AlertSource(Protocol):
    """Turns one webhook body (already parsed JSON) into normalised alerts, or raises
    `NormalisationError`. A list because some sources batch several alerts per call."""

    route: str

    def normalise(self, payload: Any) -> list[AlertReceived]: ...


@dataclass(frozen=True)
class RegisteredSource:
    source: AlertSource
    source_kind: str | None
    fingerprint_fields: tuple[str, ...]


@dataclass
class SourceRegistry:
    _by_route: dict[str, RegisteredSource] = field(default_factory=dict)
    _fields_by_kind: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def register(
        self,
        source: AlertSource,
        *,
        source_kind: str | None,
        fingerprint_fields: Sequence[str] = DEFAULT_FINGERPRINT_FIELDS,
    ) -> None:
        """`source_kind` None marks a pass-through source whose alerts name their own kind."""
        if source.route in self._by_route:
            raise ValueError(f"webhook route {source.route!r} is already registered")
        fields = validate_fields(fingerprint_fields)
        self._by_route[source.route] = RegisteredSource(source, source_kind, fields)
        if source_kind is not None:
            self._fields_by_kind[source_kind] = fields

    def by_route(self, route: str) -> AlertSource | None:
        registered = self._by_route.get(route)
        return registered.source if registered else None

    def routes(self) -> Iterator[str]:
        return iter(self._by_route)

    def fingerprint_fields(self, source_kind: str) -> tuple[str, ...]:
        return self._fields_by_kind.get(source_kind, DEFAULT_FINGERPRINT_FIELDS)

    def fingerprint(self, alert: AlertReceived) -> str:
        return fingerprint(alert, self.fingerprint_fields(alert.source_kind))


def require_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON parses to: no abstract-class check (a few per alert)
        return value
    if not isinstance(value, Mapping):
        raise NormalisationError(path, "must be a JSON object")
    return value
