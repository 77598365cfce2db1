"""`warden cluster up|down|status`: the scale-out stack on one machine (docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from warden_cli.layout import Layout

cluster_app = typer.Typer(
    help="A 3-node NATS JetStream cluster, PostgreSQL and replicated services (docs/scale-out.md).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="cluster data directory (default .warden or $WARDEN_DATA_DIR)")
]


def _layout(data_dir: Path | None) -> Layout:
    from warden_cli.layout import Layout, default_data_dir

    return Layout((data_dir or default_data_dir()).resolve())


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@cluster_app.command()
def up(
    data_dir: DataDir = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1, help="replicas per shareable service")] = 2,
    postgres: Annotated[
        str, typer.Option("--postgres", help="PostgreSQL server; a database per data directory is created on it")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    health_timeout: Annotated[float, typer.Option("--health-timeout", help="seconds every replica has")] = 120.0,
    stop_timeout: Annotated[float, typer.Option("--stop-timeout", help="seconds each stop step gets")] = 10.0,
) -> None:
    """Start the cluster in the background and return once every replica is healthy; a failed
    start stops everything it started."""
    from warden_cli.cluster import ClusterFailed, ClusterOptions, ClusterStack
    from warden_cli.cluster_status import render, status
    from warden_cli.supervisor import StackLocked

    layout = _layout(data_dir)
    options = ClusterOptions(
        replicas=replicas, postgres_url=postgres, health_timeout_s=health_timeout, stop_timeout_s=stop_timeout
    )
    stack = ClusterStack(layout, options)
    try:
        asyncio.run(stack.start())
    except (ClusterFailed, StackLocked, RuntimeError, TimeoutError, OSError) as err:
        raise _fail(f"warden cluster up: {err}") from None
    typer.echo(render(asyncio.run(status(layout))))
    typer.echo(f"stop with: warden cluster down --data-dir {layout.root}")


@cluster_app.command()
def down(
    data_dir: DataDir = None,
    stop_timeout: Annotated[
        float | None, typer.Option("--stop-timeout", help="seconds per step before SIGKILL (default: up's)")
    ] = None,
) -> None:
    """Stop every process of the cluster by PID (services, then nodes), SIGKILL after the deadline."""
    from warden_cli.cluster import down as stop

    layout = _layout(data_dir)
    try:
        outcome = asyncio.run(stop(layout, stop_timeout))
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    for name, how in outcome.items():
        typer.echo(f"{name:<12} {how}")
    if any(how == "still running" for how in outcome.values()):
        raise _fail("some processes did not stop")


@cluster_app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Nodes, stream replica health, each replica's PID and health; exit 1 when anything is unhealthy."""
    from warden_cli.cluster_status import render
    from warden_cli.cluster_status import status as read_status

    layout = _layout(data_dir)
    try:
        report = asyncio.run(read_status(layout))
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))
    raise typer.Exit(0 if report["healthy"] else 1)
