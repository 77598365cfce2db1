"""The `warden` command line: a thin shell that imports a command's implementation only when it runs.

Adding a command is one small edit here, in one of two ways:

- a command (or `typer.Typer` sub-app) that lives in its own module: one line in `COMMANDS` (or
  `BENCHMARKS`) with its "module:attribute" and its one-line help, e.g.
  `"check": Lazy("warden_cli.check:run", "Check the estate file ...")`;
- a command defined here: a decorated function whose body imports its implementation.

Nothing at module level may import a service, an SDK or the bus: `warden --help` and
`warden --version` stay fast because of it (tests/unit/test_cli_shell.py checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warden_cli.errors import guarded
from warden_cli.lazy import Lazy, lazy_group

if TYPE_CHECKING:
    from warden_cli.layout import Layout

BENCHMARKS: dict[str, Lazy] = {
    "e2e": Lazy(
        "warden_bench.e2e:run",
        "Alert -> action started (p50/p99, per hop) for an autonomous tier-1 restart on the embedded\n"
        "    stack, against a bare JetStream round trip measured in the same run.",
        requires="warden_bench",
    ),
    "executor": Lazy(
        "warden_bench.executor:run",
        "Approval-to-execution latency (p50/p99) of the executor on the embedded stack, against a\n"
        "    bare publish->consume baseline measured in the same run.",
        requires="warden_bench",
    ),
    "planner": Lazy(
        "warden_bench.planner:run",
        "Planner time per incident (p50/p99) without LLM latency, against a same-run baseline.",
        requires="warden_bench",
    ),
    "audit": Lazy(
        "warden_bench.audit:run",
        "Audit append (fsync'd, group commit) and verification throughput, with same-run baselines.",
        requires="warden_bench",
    ),
    "policy": Lazy(
        "warden_bench.policy:run",
        "Decision latency p50/p99 of the policy gate vs a bare bus relay measured in the same run.",
        requires="warden_bench",
    ),
    "cli": Lazy(
        "warden_bench.cli:run",
        "Start-up time of `warden --version` and `warden --help` (and, `--services`, of importing each\n"
        "    service's composition root), median of N runs, against a bare `python -c pass` in the same run.",
        requires="warden_bench",
    ),
    "triage": Lazy(
        "warden_bench.triage:run",
        "Triage under an alert storm: sustained alerts/s, p99 ingest->incident latency and peak memory,\n"
        "    next to raw JetStream publish/consume rates measured in the same run.",
        requires="warden_bench",
    ),
}

COMMANDS: dict[str, Lazy] = {
    "kpi": Lazy(
        "warden_cli.kpi:run",
        "Incident KPIs (time to acknowledge / first useful action / mitigate, autonomy, overrides, ...).",
    ),
    "approve": Lazy(
        "warden_cli.approval_commands:approve",
        "Approve a pending action as USER, after USER's password checks out (signed by the local issuer).",
    ),
    "deny": Lazy(
        "warden_cli.approval_commands:deny", "Deny a pending action as USER, after USER's password checks out."
    ),
    "eval": Lazy(
        "warden_eval.command:run",
        "Run evaluation scenarios end to end through the embedded stack and print the scorecard.",
        requires="warden_eval",
    ),
    "tasks": Lazy(
        "warden_cli.task_reports:run",
        "Reports of scheduled runs (health checks, cost reports, certificate sweeps), with what needs attention.",
    ),
    # commands (plain functions) before command groups, as Typer lists them
    "init": Lazy("warden_cli.estate_commands:init", "Write a commented starter estate file (warden.yaml)."),
    "check": Lazy(
        "warden_cli.estate_commands:check",
        "Validate and cross-check warden.yaml; errors name file:line and the fix.",
    ),
    "connect": Lazy(
        "warden_cli.connect:run",
        "Print a ready-to-paste receiver: alertmanager | azure-monitor | grafana | cloudevents.",
    ),
    "generate": Lazy(
        "warden_cli.environment_files:run",
        "Write docker-compose.yml's and the Bicep's environments from the process description.",
    ),
    "bench": Lazy(
        "warden_cli.main:bench_app", "Benchmarks that print ratios against a baseline measured in the same run."
    ),
    "servicebus": Lazy("warden_cli.servicebus_commands:servicebus_app", "Azure Service Bus operations (dead letters)."),
    "cluster": Lazy(
        "warden_cli.cluster_commands:cluster_app",
        "A 3-node NATS JetStream cluster, PostgreSQL and replicated services (docs/scale-out.md).",
    ),
    "compose": Lazy(
        "warden_cli.compose_commands:compose_app", "Helpers for docker-compose.yml (the containerised embedded stack)."
    ),
    "audit": Lazy("warden_cli.audit_commands:audit_app", "The tamper-evident audit log."),
    "approvals": Lazy(
        "warden_cli.approval_commands:approvals_app",
        "Approval requests: list, show, approve, deny (no subcommand: list).",
    ),
    "policy": Lazy(
        "warden_cli.policy_commands:policy_app",
        "The gate's Cedar policy: run its test cases, replay history through it.",
    ),
    "shadow": Lazy("warden_cli.shadow:shadow_app", "Shadow mode: would-be actions compared with what humans did."),
    "autonomy": Lazy(
        "warden_cli.autonomy:autonomy_app", "Progressive autonomy per response plan: shadow -> review -> autonomous."
    ),
    "fault": Lazy("warden_cli.fault_commands:fault_app", "Inject or clear a fault in the running stack's sandbox."),
}

# Help is click's plain formatter (commands inherit the root's mode): rendering it with rich costs
# more than the rest of `warden --help` together (importing rich and typer.rich_utils).
app = typer.Typer(
    help="Warden: zero-trust incident response.",
    no_args_is_help=True,
    cls=guarded(lazy_group(COMMANDS)),
    rich_markup_mode=None,
)
bench_app = typer.Typer(
    help="Benchmarks that print ratios against a baseline measured in the same run.", cls=lazy_group(BENCHMARKS)
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="stack data directory (default .warden or $WARDEN_DATA_DIR)")
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"warden {version('warden-cli')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    pass


def _layout(data_dir: Path | None) -> Layout:
    from warden_cli.layout import Layout, default_data_dir

    return Layout((data_dir or default_data_dir()).resolve())


def _existing(data_dir: Path | None) -> Layout:
    from warden_cli.data_dir import existing_layout

    return existing_layout(data_dir)


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
    config: Annotated[
        Path | None, typer.Option("--config", help="the estate file (default: the bundled demo estate)")
    ] = None,
    random_ports: Annotated[
        bool, typer.Option("--random-ports", help="free ports instead of the estate's (also WARDEN_RANDOM_PORTS=1)")
    ] = False,
    service_users: Annotated[
        bool,
        typer.Option(
            "--service-users",
            help="as root: each service as its own system user warden-<service> (also WARDEN_SERVICE_USERS=1)",
        ),
    ] = False,
) -> None:
    """Start the embedded stack (NATS, sandbox, the services, the console) until Ctrl-C.

    Exits non-zero, after stopping everything it started, when start-up fails, when another
    `warden up` holds the data folder, or when NATS or any service dies."""
    import asyncio
    import os

    from warden_estate import EstateInvalid

    from warden_cli import estate_wiring
    from warden_cli.estate_commands import announce as announce_text
    from warden_cli.launcher import EmbeddedStack, StackFailed, StackOptions, run_until_signalled
    from warden_cli.service_users import ServiceUsersUnavailable, require_root
    from warden_cli.service_users import enabled as service_users_enabled
    from warden_cli.supervisor import StackLocked

    separate = service_users_enabled(service_users)
    if separate:
        try:
            require_root()
        except ServiceUsersUnavailable as err:
            raise _fail(f"warden up: {err}") from None
    layout = _layout(data_dir)
    source = (config or estate_wiring.demo_estate_path()).resolve()
    if not source.is_file():
        raise _fail(f"warden up: no estate file at {source} (write one with `warden init`)")
    try:
        wiring = estate_wiring.wire(layout, source)
    except EstateInvalid as err:
        raise _fail(f"warden up: {source} is invalid (see `warden check {source}`):\n{err}") from None
    if wiring.console_users:
        typer.echo(f"console users follow {source.name}: {'; '.join(wiring.console_users)}")
    random = random_ports or os.environ.get("WARDEN_RANDOM_PORTS") == "1"
    ports = {} if random else wiring.ports

    def announce(stack: EmbeddedStack) -> None:
        typer.echo(announce_text(stack, layout, source, len(wiring.estate.services)))

    options = StackOptions(
        tick_s=tick,
        health_timeout_s=health_timeout,
        stop_timeout_s=stop_timeout,
        ports=ports,
        estate_env=wiring.env,
        service_users=separate,
    )
    try:
        asyncio.run(run_until_signalled(EmbeddedStack(layout, options), announce))
    except (StackFailed, StackLocked, ServiceUsersUnavailable) as err:
        busy = estate_wiring.busy_ports(ports) if isinstance(err, StackFailed) else []
        hint = f"\n  ports in use by something else: {', '.join(busy)} (change listen.ports or use --random-ports)"
        raise _fail(f"warden up: {err}{hint if busy else ''}") from None


@app.command()
def demo(
    data_dir: DataDir = None, keep: bool = typer.Option(False, help="keep the data directory"), timeout: float = 90.0
) -> None:
    """Run the four demo incidents through the real stack; non-zero exit on failure."""
    import asyncio
    import shutil
    import tempfile

    from warden_cli.demo import run_demo

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
    import asyncio
    import json

    from warden_cli import operations

    try:
        typer.echo(json.dumps(asyncio.run(operations.post_alert(_existing(data_dir), file, source))))
    except operations.OperationError as err:
        raise _fail(str(err)) from None


@app.command()
def incidents(
    data_dir: DataDir = None,
    timeline: bool = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document (docs/cli.md)")] = False,
) -> None:
    """Incidents and their state, from the audit log."""
    import json

    from warden_audit import api as audit

    from warden_cli.timeline import incidents_json, render

    views = audit.incidents(_existing(data_dir).audit_dir).values()
    if as_json:
        typer.echo(json.dumps(incidents_json(views, timeline=timeline), sort_keys=True, default=str))
        return
    for view in views:
        if timeline:
            typer.echo(render(view) + "\n")
        else:
            typer.echo(f"{view.incident_id}  {view.state:<9} {view.incident_class:<22} {view.service}")


@app.command("kill-switch")
def kill_switch(
    state: str = typer.Argument(..., help="on | off"), by: str = "operator", reason: str = "", data_dir: DataDir = None
) -> None:
    """Stop (on) or allow (off) every agent action, effective for every later decision."""
    import asyncio

    from warden_contracts.events import ControlKind

    from warden_cli import operations

    if state not in {"on", "off"}:
        raise _fail("state must be on or off")
    asyncio.run(operations.set_control(_existing(data_dir), ControlKind.KILL_SWITCH, state, by, reason))
    typer.echo(f"kill switch {state}")


@app.command()
def mode(
    access_level: str = typer.Argument(..., help="reader | privileged"), by: str = "operator", data_dir: DataDir = None
) -> None:
    """Set the agent access level; reader takes effect at once."""
    import asyncio

    from warden_contracts.events import ControlKind

    from warden_cli import operations

    if access_level not in {"reader", "privileged"}:
        raise _fail("access level must be reader or privileged")
    asyncio.run(operations.set_control(_existing(data_dir), ControlKind.ACCESS_LEVEL, access_level, by))
    typer.echo(f"access level {access_level}")
