"""What a person does against a running stack: sign decisions, flip controls, send alerts."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from warden_audit.reader import read_records
from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ApprovalDecided, ApprovalDecision, ControlChanged, ControlKind
from warden_security.keys import load_or_create_private_key
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer
from warden_triage.domain.source_detection import ROUTES as SOURCE_ROUTES
from warden_triage.domain.source_detection import guess_source

from warden_cli.layout import Layout

TOKEN_TTL_S = 300


class OperationError(RuntimeError):
    pass


def local_users() -> dict[str, list[str]]:
    raw = yaml.safe_load(resources.files(__package__).joinpath("users.yaml").read_text())
    return {name: list(entry["groups"]) for name, entry in raw["users"].items()}


def approval_requests(layout: Layout) -> dict[str, dict[str, Any]]:
    """Approval requests and what became of them, from the audit log (the system of record)."""
    found: dict[str, dict[str, Any]] = {}
    for record in read_records(layout.audit_dir):
        env = record["envelope"]
        data = env.get("data", {})
        if env.get("type") == "sre.approval.requested.v1":
            found[data["approval_id"]] = {
                "request": data,
                "correlationid": env.get("correlationid"),
                "state": "pending",
            }
        elif env.get("type") == "sre.policy.decided.v1" and data.get("approval_id") in found:
            outcome = data.get("outcome")
            if outcome in {"approved", "denied", "expired", "superseded"}:
                found[data["approval_id"]]["state"] = outcome
    return found


def sign_in(layout: Layout, user: str, approval_id: str, action_hash: str) -> str:
    users = local_users()
    if user not in users:
        raise OperationError(f"unknown user {user!r}; known: {', '.join(sorted(users))}")
    issuer = TokenIssuer(load_or_create_private_key(layout.approver_issuer_key), LOCAL_APPROVER_ISSUER)
    return issuer.issue(
        user, APPROVAL_AUDIENCE, TOKEN_TTL_S, approval_id=approval_id, action_hash=action_hash, groups=users[user]
    )


async def _publish(layout: Layout, identity: str, envelope: Any) -> None:
    stack = layout.read_stack()
    bus = NatsBus(identity, stack["nats_url"], layout.creds(identity))
    await bus.start()
    try:
        await bus.publish(envelope)
    finally:
        await bus.stop()


async def decide(layout: Layout, approval_id: str, decision: ApprovalDecision, user: str, reason: str = "") -> str:
    requests = approval_requests(layout)
    entry = requests.get(approval_id)
    if entry is None and len(approval_id) >= 6:
        # A unique prefix is enough to type at 3 a.m.
        matches = [v for k, v in requests.items() if k.startswith(approval_id)]
        entry = matches[0] if len(matches) == 1 else None
    if entry is None:
        raise OperationError(f"no approval request {approval_id!r} in the audit log")
    request = entry["request"]
    token = sign_in(layout, user, request["approval_id"], request["action_hash"])
    payload = ApprovalDecided(
        approval_id=request["approval_id"], decision=decision, reason=reason, identity_token=token, channel="cli"
    )
    envelope = envelope_for(
        "sre.approval.decided.v1",
        payload,
        source=f"warden/cli/{user}",
        correlationid=entry["correlationid"],
        subject=request["incident_id"],
    )
    await _publish(layout, "approver", envelope)
    return str(request["approval_id"])


async def set_control(layout: Layout, kind: ControlKind, value: str, by: str, reason: str = "") -> None:
    payload = ControlChanged(kind=kind, value=value, changed_by=by, reason=reason)
    await _publish(
        layout,
        "operator",
        envelope_for(
            "sre.control.changed.v1", payload, source=f"warden/cli/{by}", correlationid=f"control:{kind.value}"
        ),
    )


async def post_alert(layout: Layout, path: Path, source: str | None = None) -> dict[str, Any]:
    """`source` picks the webhook (azure_monitor, prometheus, grafana, cloudevents, normalised);
    None guesses it from the document."""
    stack, secrets = layout.read_stack(), layout.secrets()
    raw = await asyncio.to_thread(path.read_bytes)
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise OperationError(f"{path} is not JSON: {err}") from None
    source = source or guess_source(body)
    if source not in SOURCE_ROUTES:
        raise OperationError(f"unknown source {source!r}; known: {', '.join(SOURCE_ROUTES)}")
    url = stack["webhook_url"].replace("/webhooks/azure-monitor", f"/webhooks/{SOURCE_ROUTES[source]}")
    content_type = "application/cloudevents+json" if source == "cloudevents" else "application/json"
    headers = {"Authorization": f"Bearer {secrets['webhook_token']}", "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=raw, headers=headers) as resp,
    ):
        answer: dict[str, Any] = await resp.json(content_type=None)
        if resp.status >= 400:
            raise OperationError(f"webhook refused the alert ({resp.status}): {answer}")
        return answer


async def inject_fault(layout: Layout, service: str, kind: str, **params: Any) -> None:
    stack, secrets = layout.read_stack(), layout.secrets()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack['sandbox_url']}/v1/admin/faults",
            json={"service": service, "kind": kind, **params},
            headers={"X-Sandbox-Admin": secrets["sandbox_admin_secret"]},
        ) as resp,
    ):
        if resp.status >= 400:
            raise OperationError(f"sandbox refused the fault ({resp.status}): {await resp.text()}")
