"""What a person does against a running stack: sign decisions, flip controls, send alerts."""

from __future__ import annotations

import asyncio
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from warden_audit import api as audit
from warden_audit.api import ApprovalEntry
from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ApprovalDecided, ApprovalDecision, ControlChanged, ControlKind
from warden_sandbox import api as sandbox
from warden_security.keys import load_or_create_private_key
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer
from warden_triage import api as triage

from warden_cli.layout import Layout

TOKEN_TTL_S = 300
DEFAULT_CONNECT_TIMEOUT_S = 5.0


class OperationError(RuntimeError):
    pass


def local_users() -> dict[str, list[str]]:
    raw = yaml.safe_load(resources.files(__package__).joinpath("users.yaml").read_text())
    return {name: list(entry["groups"]) for name, entry in raw["users"].items()}


def approval_requests(layout: Layout) -> dict[str, ApprovalEntry]:
    """Approval requests and what became of them, from the audit log (the system of record)."""
    return audit.all_approval_requests(layout.audit_dir)


def sign_in(layout: Layout, user: str, approval_id: str, action_hash: str) -> str:
    users = local_users()
    if user not in users:
        raise OperationError(f"unknown user {user!r}; known: {', '.join(sorted(users))}")
    issuer = TokenIssuer(load_or_create_private_key(layout.approver_issuer_key), LOCAL_APPROVER_ISSUER)
    return issuer.issue(
        user, APPROVAL_AUDIENCE, TOKEN_TTL_S, approval_id=approval_id, action_hash=action_hash, groups=users[user]
    )


def connect_timeout_s() -> float:
    return float(os.environ.get("WARDEN_CLI_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S))


async def connected_bus(layout: Layout, identity: str) -> NatsBus:
    """A started bus as `identity`, or OperationError when the stack's broker does not answer: the
    bus reconnects forever (right for a service), so a stack that died would hang a command."""
    stack = layout.read_stack()
    bus = NatsBus(identity, stack["nats_url"], layout.creds(identity))
    try:
        await asyncio.wait_for(bus.start(), connect_timeout_s())
    except (TimeoutError, OSError) as err:
        await bus.stop()
        raise OperationError(
            f"cannot reach the stack's broker at {stack['nats_url']} ({str(err) or 'no answer'}): is `warden up`"
            f" running? {layout.stack_file} may be left over from a stack that was killed"
        ) from None
    return bus


async def _publish(layout: Layout, identity: str, envelope: Any) -> None:
    bus = await connected_bus(layout, identity)
    try:
        await bus.publish(envelope)
    finally:
        await bus.stop()


async def decide(layout: Layout, approval_id: str, decision: ApprovalDecision, user: str, reason: str = "") -> str:
    found = audit.find_approval(layout.audit_dir, approval_id)
    if found is None:
        raise OperationError(f"no approval request {approval_id!r} in the audit log")
    _, entry = found
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
    await publish_control(layout, payload, f"control:{kind.value}")


async def publish_control(layout: Layout, payload: ControlChanged, correlationid: str) -> None:
    """A control change published as the operator identity (audited like every other message)."""
    source = f"warden/cli/{payload.changed_by}"
    envelope = envelope_for("sre.control.changed.v1", payload, source=source, correlationid=correlationid)
    await _publish(layout, "operator", envelope)


async def post_alert(layout: Layout, path: Path, source: str | None = None) -> dict[str, Any]:
    """`source` picks the webhook (azure_monitor, prometheus, grafana, cloudevents, normalised);
    None guesses it from the document."""
    stack, secrets = layout.read_stack(), layout.secrets()
    raw = await asyncio.to_thread(path.read_bytes)
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise OperationError(f"{path} is not JSON: {err}") from None
    try:
        source, route = triage.webhook_route(source, body)
    except triage.UnknownSource as err:
        raise OperationError(str(err)) from None
    url = stack["webhook_url"].replace("/webhooks/azure-monitor", f"/webhooks/{route}")
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


async def inject_fault(layout: Layout, service: str, kind: str, **params: Any) -> dict[str, Any]:
    """The sandbox's answer: service, kind, the fault's params (defaults filled in) and the service's view."""
    url, secret = layout.read_stack()["sandbox_url"], layout.secrets()["sandbox_admin_secret"]
    try:
        return await sandbox.inject_fault(url, secret, service, kind, **params)
    except sandbox.SandboxRefused as err:
        raise OperationError(str(err)) from None


async def clear_faults(layout: Layout, service: str) -> dict[str, Any]:
    """The sandbox's answer: the service and the kinds of fault it cleared."""
    url, secret = layout.read_stack()["sandbox_url"], layout.secrets()["sandbox_admin_secret"]
    try:
        return await sandbox.clear_faults(url, secret, service)
    except sandbox.SandboxRefused as err:
        raise OperationError(str(err)) from None
