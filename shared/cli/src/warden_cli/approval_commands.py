"""`warden approvals list|show|approve|deny` and the top-level `warden approve` / `warden deny`.

State comes from the audit log (the system of record); a decision is signed as the named person by
the local identity issuer and published under the `approver` broker identity, exactly as the
console does. Policy verifies it either way.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from warden_audit import api as audit
from warden_audit.api import ApprovalEntry
from warden_contracts.events import ApprovalDecision

from warden_cli import operations
from warden_cli.approver_credential import CredentialRefused, check_approver, read_password
from warden_cli.data_dir import existing_layout
from warden_cli.layout import Layout
from warden_cli.timeline import describe

approvals_app = typer.Typer(
    help="Approval requests: list, show, approve, deny (no subcommand: list).", invoke_without_command=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="stack data directory (default .warden or $WARDEN_DATA_DIR)")
]
User = Annotated[str, typer.Option("--as", help="who decides (signed in with the local identity issuer)")]
Reason = Annotated[str, typer.Option(help="why; recorded in the audit log")]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        envvar="WARDEN_APPROVER_PASSWORD_FILE",
        help="the approver's console password (first line, or the `name (role): password` line of USER); "
        "without it the password is asked for",
    ),
]


def _layout(data_dir: Path | None) -> Layout:
    return existing_layout(data_dir)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _left(expires_at: str, state: str) -> str:
    if state != "pending":
        return ""
    left = (datetime.fromisoformat(expires_at.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()
    return f"{int(left // 60)}m{int(left % 60):02d}s left" if left > 0 else "past its deadline"


def _find(layout: Layout, approval_id: str) -> tuple[str, ApprovalEntry]:
    found = audit.find_approval(layout.audit_dir, approval_id)
    if found is None:
        ambiguous = audit.approval_ambiguous(layout.audit_dir, approval_id)
        raise _fail(f"no approval request {approval_id!r} in the audit log" + (" (ambiguous)" if ambiguous else ""))
    return found


Json = Annotated[bool, typer.Option("--json", help="print one JSON document (docs/cli.md)")]


@approvals_app.callback()
def _default(ctx: typer.Context, data_dir: DataDir = None, as_json: Json = False) -> None:
    if ctx.invoked_subcommand is None:
        list_requests(data_dir=data_dir, pending=False, as_json=as_json)


@approvals_app.command("list")
def list_requests(
    data_dir: DataDir = None,
    pending: Annotated[bool, typer.Option("--pending", help="only requests still waiting")] = False,
    as_json: Json = False,
) -> None:
    """Approval requests and their state, newest last."""
    rows = [
        (approval_id, entry)
        for approval_id, entry in operations.approval_requests(_layout(data_dir)).items()
        if not pending or entry["state"] == "pending"
    ]
    if as_json:
        # A bare array, as this command has always printed (scripts parse it).
        typer.echo(json.dumps([{"approval_id": k, **v} for k, v in rows], sort_keys=True, default=str))
        return
    for approval_id, entry in rows:
        req = entry["request"]
        typer.echo(
            f"{approval_id}  {entry['state']:<10} {req['action']['kind']} on {req['action']['target']}"
            f" [{req['environment']}] tier {req['tier']} expires {req['expires_at']}"
            f" {_left(req['expires_at'], entry['state'])}".rstrip()
        )


@approvals_app.command("show")
def show(approval_id: str, data_dir: DataDir = None) -> None:
    """Everything an approver needs: what, where, why, blast radius, rollback plan, expiry, timeline."""
    layout = _layout(data_dir)
    full_id, entry = _find(layout, approval_id)
    req = entry["request"]
    action = req["action"]
    state = ", ".join(filter(None, [entry["state"], _left(req["expires_at"], entry["state"])]))
    needed = int(req.get("approvals_required") or 1)
    lines = [
        f"approval   {full_id}  ({state})",
        f"incident   {req['incident_id']}",
        f"what       {action['kind']} {json.dumps(action['params'])} on {action['target']} [{req['environment']}]",
        f"tier       {req['tier']}" + (f", {needed} approvals needed" if needed > 1 else ""),
        f"why        {req['summary']}",
        f"rationale  {action.get('rationale', '')}",
        f"blast      {req['blast_radius']}",
        f"reversible {'yes' if req['reversible'] else 'NO'}; rollback: {req['rollback_plan']}",
        f"expires    {req['expires_at']}",
        f"requested  by {req['requested_by']}",
    ]
    lines += [f"evidence   {e['tool']} {json.dumps(e['params'])}" for e in req.get("evidence", [])]
    lines.append("timeline")
    lines += [f"  #{r['seq']:<5} {describe(r)}" for r in audit.correlated(layout.audit_dir, req["incident_id"])]
    typer.echo("\n".join(lines))


def _decide(
    approval_id: str,
    decision: ApprovalDecision,
    user: str,
    reason: str,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    layout = _layout(data_dir)
    approval_id, _ = _find(layout, approval_id)
    try:
        check_approver(layout.keys, user, read_password(user, password_file))
    except CredentialRefused as err:
        raise _fail(str(err)) from None
    try:
        full = asyncio.run(operations.decide(layout, approval_id, decision, user, reason))
    except operations.OperationError as err:
        raise _fail(str(err)) from None
    typer.echo(f"{decision.value} for {full} sent as {user}; policy verifies the signed identity.")


@approvals_app.command("approve")
def approve(
    approval_id: str, user: User, reason: Reason = "", data_dir: DataDir = None, password_file: PasswordFile = None
) -> None:
    """Approve a pending action as USER, after USER's password checks out (signed by the local issuer)."""
    _decide(approval_id, ApprovalDecision.APPROVE, user, reason, data_dir, password_file)


@approvals_app.command("deny")
def deny(
    approval_id: str, user: User, reason: Reason = "", data_dir: DataDir = None, password_file: PasswordFile = None
) -> None:
    """Deny a pending action as USER, after USER's password checks out."""
    _decide(approval_id, ApprovalDecision.DENY, user, reason, data_dir, password_file)


def register(app: typer.Typer) -> None:
    """`warden approvals ...` plus the short top-level `warden approve` / `warden deny` the demo uses."""
    app.add_typer(approvals_app, name="approvals")
    app.command("approve")(approve)
    app.command("deny")(deny)
