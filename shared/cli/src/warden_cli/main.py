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
from warden_contracts.events import ControlKind

from warden_cli import (
    approval_commands,
    audit_commands,
    autonomy,
    bench_audit,
    bench_executor,
    bench_planner,
    bench_policy,
    bench_triage,
    kpi,
    operations,
    policy_commands,
    servicebus_commands,
    shadow,
    task_reports,
)
from warden_cli.compose_commands import compose_app
from warden_cli.demo import run_demo
from warden_cli.evaluation import command as eval_command
from warden_cli.launcher import EmbeddedStack, StackOptions, run_until_signalled
from warden_cli.layout import Layout, default_data_dir
from warden_cli.timeline import incidents_from, render

app = typer.Typer(help="Warden: zero-trust incident response.", no_args_is_help=True)
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
def up(
    data_dir: DataDir = None,
    tick: float = 0.5,
    health_timeout: Annotated[
        float, typer.Option("--health-timeout", help="seconds every service has to answer /healthz")
    ] = 60.0,
    stop_timeout: Annotated[
        float, typer.Option("--stop-timeout", help="seconds each stop step gets before SIGKILL")
    ] = 10.0,
) -> None:
    """Start the embedded stack (NATS, sandbox, the services, the console) until Ctrl-C.

    Exits non-zero, after stopping everything it started, when start-up fails, when another
    `warden up` holds the data folder, or when NATS or any service dies."""
    from warden_cli.launcher import StackFailed
    from warden_cli.supervisor import StackLocked

    layout = _layout(data_dir)

    def announce(stack: EmbeddedStack) -> None:
        typer.echo(
            f"Warden is up. Data: {layout.root}\n  webhook  {stack.webhook_url}\n"
            f"  sandbox  {stack.sandbox_url}\n  logs     {layout.logs}\n"
            f"  console  {stack.console_url}  (first sign-in: {layout.keys / 'console-initial-passwords.txt'})\n"
            f"  nats     {stack.nats.url if stack.nats else ''}\nCtrl-C to stop."
        )

    options = StackOptions(tick_s=tick, health_timeout_s=health_timeout, stop_timeout_s=stop_timeout)
    try:
        asyncio.run(run_until_signalled(EmbeddedStack(layout, options), announce))
    except (StackFailed, StackLocked) as err:
        raise _fail(f"warden up: {err}") from None


@app.command()
def demo(
    data_dir: DataDir = None, keep: bool = typer.Option(False, help="keep the data directory"), timeout: float = 90.0
) -> None:
    """Run the four demo incidents through the real stack; non-zero exit on failure."""
    root = data_dir or Path(tempfile.mkdtemp(prefix="warden-demo-"))
    ok = asyncio.run(run_demo(_layout(root), typer.echo, timeout=timeout))
    if keep or data_dir:
        typer.echo(f"Data kept in {root} (try: warden audit verify --data-dir {root})")
    else:
        shutil.rmtree(root, ignore_errors=True)
    raise typer.Exit(0 if ok else 1)


@app.command()
def ingest(
    file: Path,
    data_dir: DataDir = None,
    source: Annotated[
        str | None,
        typer.Option(help="azure_monitor | prometheus | grafana | cloudevents | normalised (default: guessed)"),
    ] = None,
) -> None:
    """Send an alert file to the running stack's webhook for its source (docs/alert-sources.md)."""
    try:
        typer.echo(json.dumps(asyncio.run(operations.post_alert(_layout(data_dir), file, source))))
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


# --- command groups that live in their own modules register here (one line each) ---
bench_app.command("executor")(bench_executor.run)
app.add_typer(servicebus_commands.servicebus_app, name="servicebus")
app.add_typer(compose_app, name="compose")
app.command("kpi")(kpi.run)
app.add_typer(audit_commands.audit_app, name="audit")
approval_commands.register(app)  # `warden approvals ...`, `warden approve`, `warden deny`
app.add_typer(policy_commands.policy_app, name="policy")
app.command("eval")(eval_command.run)
bench_app.command("planner")(bench_planner.run)
app.add_typer(shadow.shadow_app, name="shadow")
app.add_typer(autonomy.autonomy_app, name="autonomy")
bench_app.command("audit")(bench_audit.run)
bench_app.command("policy")(bench_policy.run)
bench_app.command("triage")(bench_triage.run)
app.command("tasks")(task_reports.run)
