"""The `warden` command line."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from warden_audit.reader import read_records
from warden_audit.verify import verify_log
from warden_contracts.events import ApprovalDecision, ControlKind

from warden_cli import operations
from warden_cli.demo import run_demo
from warden_cli.launcher import EmbeddedStack, StackOptions, run_until_signalled
from warden_cli.layout import Layout, default_data_dir
from warden_cli.timeline import incidents_from, render

app = typer.Typer(help="Warden: zero-trust incident response.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.")
app.add_typer(audit_app, name="audit")
bench_app = typer.Typer(help="Benchmarks that print ratios against a baseline measured in the same run.")
app.add_typer(bench_app, name="bench")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="stack data directory (default .warden or $WARDEN_DATA_DIR)")
]


def _layout(data_dir: Path | None) -> Layout:
    return Layout((data_dir or default_data_dir()).resolve())


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@app.command()
def up(data_dir: DataDir = None, tick: float = 0.5) -> None:
    """Start the embedded stack (NATS, sandbox, five services) until Ctrl-C."""
    layout = _layout(data_dir)

    def announce(stack: EmbeddedStack) -> None:
        typer.echo(
            f"Warden is up. Data: {layout.root}\n  webhook  {stack.webhook_url}\n"
            f"  sandbox  {stack.sandbox_url}\n  logs     {layout.logs}\n"
            f"  nats     {stack.nats.url if stack.nats else ''}\nCtrl-C to stop."
        )

    asyncio.run(run_until_signalled(EmbeddedStack(layout, StackOptions(tick_s=tick)), announce))


@app.command()
def demo(
    data_dir: DataDir = None, keep: bool = typer.Option(False, help="keep the data directory"), timeout: float = 90.0
) -> None:
    """Run the Autonomous and the Review scenario through the real stack; non-zero exit on failure."""
    root = data_dir or Path(tempfile.mkdtemp(prefix="warden-demo-"))
    ok = asyncio.run(run_demo(_layout(root), typer.echo, timeout=timeout))
    if keep or data_dir:
        typer.echo(f"Data kept in {root} (try: warden audit verify --data-dir {root})")
    else:
        shutil.rmtree(root, ignore_errors=True)
    raise typer.Exit(0 if ok else 1)


@app.command()
def ingest(file: Path, data_dir: DataDir = None) -> None:
    """Send an alert file (Azure Monitor common schema or a normalised alert) to the running stack."""
    try:
        typer.echo(json.dumps(asyncio.run(operations.post_alert(_layout(data_dir), file))))
    except operations.OperationError as err:
        raise _fail(str(err)) from None


@app.command()
def incidents(data_dir: DataDir = None, timeline: bool = False) -> None:
    """Incidents and their state, from the audit log."""
    for view in incidents_from(read_records(_layout(data_dir).audit_dir)).values():
        if timeline:
            typer.echo(render(view) + "\n")
        else:
            typer.echo(f"{view.incident_id}  {view.state:<9} {view.incident_class:<22} {view.service}")


@app.command()
def approvals(data_dir: DataDir = None) -> None:
    """Approval requests and their state."""
    for approval_id, entry in operations.approval_requests(_layout(data_dir)).items():
        req = entry["request"]
        typer.echo(
            f"{approval_id}  {entry['state']:<10} {req['action']['kind']} on {req['action']['target']}"
            f" tier {req['tier']} expires {req['expires_at']}"
        )


def _decide(approval_id: str, decision: ApprovalDecision, user: str, reason: str, data_dir: Path | None) -> None:
    try:
        full = asyncio.run(operations.decide(_layout(data_dir), approval_id, decision, user, reason))
    except operations.OperationError as err:
        raise _fail(str(err)) from None
    typer.echo(f"{decision.value} for {full} sent as {user}; policy verifies the signed identity.")


@app.command()
def approve(
    approval_id: str, user: Annotated[str, typer.Option("--as")], reason: str = "", data_dir: DataDir = None
) -> None:
    """Approve a pending action as USER (signed by the local identity issuer)."""
    _decide(approval_id, ApprovalDecision.APPROVE, user, reason, data_dir)


@app.command()
def deny(
    approval_id: str, user: Annotated[str, typer.Option("--as")], reason: str = "", data_dir: DataDir = None
) -> None:
    """Deny a pending action as USER."""
    _decide(approval_id, ApprovalDecision.DENY, user, reason, data_dir)


@app.command("kill-switch")
def kill_switch(
    state: str = typer.Argument(..., help="on | off"), by: str = "operator", reason: str = "", data_dir: DataDir = None
) -> None:
    """Stop (on) or allow (off) every agent action, effective for every later decision."""
    if state not in {"on", "off"}:
        raise _fail("state must be on or off")
    asyncio.run(operations.set_control(_layout(data_dir), ControlKind.KILL_SWITCH, state, by, reason))
    typer.echo(f"kill switch {state}")


@app.command()
def mode(
    access_level: str = typer.Argument(..., help="reader | privileged"), by: str = "operator", data_dir: DataDir = None
) -> None:
    """Set the agent access level; reader takes effect at once."""
    if access_level not in {"reader", "privileged"}:
        raise _fail("access level must be reader or privileged")
    asyncio.run(operations.set_control(_layout(data_dir), ControlKind.ACCESS_LEVEL, access_level, by))
    typer.echo(f"access level {access_level}")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, audit_dir: Path | None = None) -> None:
    """Check the whole hash chain; report the first bad record precisely."""
    directory = audit_dir or _layout(data_dir).audit_dir
    report = verify_log(directory)
    if not report.ok:
        raise _fail(
            f"audit log INVALID at record {report.first_bad_seq} ({report.segment}:{report.line}): {report.problem}"
        )
    typer.echo(f"audit log OK: {report.records} records")


@audit_app.command("export")
def audit_export(incident: str, data_dir: DataDir = None) -> None:
    """Every record of one incident, as JSON lines."""
    view = incidents_from(read_records(_layout(data_dir).audit_dir)).get(incident)
    if view is None:
        raise _fail(f"no incident {incident}")
    for record in sorted(view.records, key=lambda r: r["seq"]):
        typer.echo(json.dumps(record, sort_keys=True))


# --- command groups that live in their own modules register here (one line each) ---
