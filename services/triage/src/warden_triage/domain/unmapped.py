"""The note an incident carries when the estate does not map what alerted, with the exact
warden.yaml snippet that would map it.

An unmapped resource is never given an environment by guesswork: it stays `unknown` (or what the
alert itself states), which the policy treats most restrictively. The note is how the responder
learns why, and how to fix it in one paste.
"""

from __future__ import annotations

import re

from warden_contracts.events import UNMAPPED_RESOURCE

from warden_triage.domain.naming import environment_hint

UNMAPPED = UNMAPPED_RESOURCE
_INVALID = re.compile(r"[^a-z0-9-]+")
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "gatekeeper-system"})


def _name(text: str) -> str:
    cleaned = _INVALID.sub("-", text.lower()).strip("-")[:63]
    return cleaned or "my-service"


def _environment_line(environment: str, resource_id: str) -> str:
    if environment in {"dev", "staging", "prod"}:
        return f"    environment: {environment}   # as the alert states it"
    hint = environment_hint(resource_id) if resource_id.lower().startswith("/subscriptions/") else None
    if hint:
        return f"    environment: {hint}   # suggested by the resource names; dev | staging | prod"
    return "    environment: prod   # the safe choice until you know; dev | staging | prod"


def unmapped_note(service: str | None, environment: str, resource_id: str) -> str:
    """The note text: what happened, then the snippet to paste under `services:`."""
    azure = resource_id.lower().startswith("/subscriptions/")
    if azure:
        name = _name(service or resource_id.rstrip("/").rsplit("/", 1)[-1])
        claim = ["    azure_resource_ids:", f"      - {resource_id}"]
    elif service and "/" in service:
        namespace, workload = service.split("/", 1)
        name = service if namespace in SYSTEM_NAMESPACES else _name(workload)
        claim = ["    kubernetes:", f"      - {{namespace: {namespace}, workload: {workload}}}"]
    elif service:
        name = _name(service)
        claim = ["    match_labels:", f"      - {{service: {service}}}"]
    else:
        name = "my-service"
        claim = ["    match_labels:", "      - {job: <the alert's job label>}   # every pair must be on the alert"]
    lines = [
        f"{UNMAPPED} (environment {environment}: no autonomous action until it is mapped):",
        "services:",
        f"  - name: {name}",
        _environment_line(environment, resource_id),
        "    owner: <team that is paged>",
        *claim,
    ]
    return "\n".join(lines)
