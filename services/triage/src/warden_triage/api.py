"""Triage's public surface for tools outside the service (the `warden` CLI): which webhook an
alert document belongs to, so `warden ingest FILE` posts it where triage expects it; the webhook
route of each alert sender `warden connect` and `warden up` name; and which routes the operator
switched to HMAC signatures. No other module of this service is imported from outside it (import
contract "The CLI imports a service only through its api module", docs/adr/0009).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from warden_triage.domain.source_detection import ROUTES, SENDERS, guess_source

__all__ = [
    "HMAC_SECRETS_VARIABLE",
    "SENDERS",
    "SOURCES",
    "UnknownSource",
    "guess_source",
    "hmac_routes",
    "webhook_route",
]

# Triage's setting `webhook_hmac_secrets` (route -> shared secret) as the environment carries it.
HMAC_SECRETS_VARIABLE = "WARDEN_WEBHOOK_HMAC_SECRETS"

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


def hmac_routes(environ: Mapping[str, str] | None = None) -> set[str]:
    """The routes that take an HMAC signature instead of the bearer token, from the environment
    triage starts with (`environ`, default the process's). A value that is not a JSON object names
    none: triage itself refuses to start with it."""
    try:
        configured = json.loads((os.environ if environ is None else environ).get(HMAC_SECRETS_VARIABLE, "") or "{}")
    except ValueError:
        return set()
    return set(configured) if isinstance(configured, dict) else set()
