"""What a person does against a running stack: sign decisions, flip controls, send alerts."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
from warden_audit import api as audit
from warden_audit.api import ApprovalEntry
from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import Envelope
from warden_contracts.events import ApprovalDecision, ControlKind, PromotionEvidence
from warden_policy import api as policy
from warden_sandbox import api as sandbox
from warden_triage import api as triage

from warden_cli.approver_credential import USERS_FILE
from warden_cli.layout import Layout

DEFAULT_CONNECT_TIMEOUT_S = 5.0


class OperationError(RuntimeError):
    pass


def approval_requests(layout: Layout) -> dict[str, ApprovalEntry]:
    """Approval requests and what became of them, from the audit log (the system of record)."""
    return audit.all_approval_requests(layout.audit_dir)


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


async def _publish(layout: Layout, identity: str, envelope: Envelope) -> None:
    bus = await connected_bus(layout, identity)
    try:
        await bus.publish(envelope)
    finally:
        await bus.stop()


async def decide(layout: Layout, approval_id: str, decision: ApprovalDecision, user: str, reason: str = "") -> str:
    """`user`'s decision, signed as the console signs one (console.sign_approval) and published
    under the `approver` identity; returns the request's full id."""
    found = audit.find_approval(layout.audit_dir, approval_id)
    if found is None:
        raise OperationError(f"no approval request {approval_id!r} in the audit log")
    _, entry = found
    request = entry["request"]
    from warden_console import api as console  # argon2 set-up on import: only the commands that sign pay it

    try:
        token = console.sign_approval(
            layout.keys / USERS_FILE, layout.approver_issuer_key, user, request["approval_id"], request["action_hash"]
        )
    except console.CredentialRefused as err:
        raise OperationError(str(err)) from None
    envelope = policy.approval_decision(
        request, entry["correlationid"], decision, token, source=f"warden/cli/{user}", channel="cli", reason=reason
    )
    await _publish(layout, "approver", envelope)
    return str(request["approval_id"])


async def set_control(
    layout: Layout,
    kind: ControlKind,
    value: str,
    by: str,
    reason: str = "",
    *,
    scope: str = "global",
    evidence: PromotionEvidence | None = None,
    forced: bool = False,
) -> None:
    """A control change published as the operator identity (audited like every other message);
    OperationError for one policy could not honour."""
    try:
        envelope = policy.control_change(
            kind, value, by, source=f"warden/cli/{by}", reason=reason, scope=scope, evidence=evidence, forced=forced
        )
    except policy.InvalidControl as err:
        raise OperationError(str(err)) from None
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
