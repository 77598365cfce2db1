"""Triage's public surface for tools outside the service (the `warden` CLI): which webhook an
alert document belongs to, so `warden ingest FILE` posts it where triage expects it. No other
module of this service is imported from outside it (import contract "The CLI imports a service
only through its api module", docs/adr/0009).
"""

from __future__ import annotations

from typing import Any

from warden_triage.domain.source_detection import ROUTES, guess_source

__all__ = ["SOURCES", "UnknownSource", "guess_source", "webhook_route"]

# The `--source` names `warden ingest` accepts, in the order it lists them.
SOURCES: tuple[str, ...] = tuple(ROUTES)


class UnknownSource(ValueError):
    pass


def webhook_route(source: str | None, body: Any) -> tuple[str, str]:
    """(source, route): the named `source`, or the one guessed from `body`, and its webhook route
    (`POST /webhooks/<route>`). Raises UnknownSource naming the known ones."""
    chosen = source or guess_source(body)
    if chosen not in ROUTES:
        raise UnknownSource(f"unknown source {chosen!r}; known: {', '.join(ROUTES)}")
    return chosen, ROUTES[chosen]
