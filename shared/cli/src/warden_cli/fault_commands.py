"""`warden fault inject KIND --service S` and `warden fault clear --service S`: drive the running
stack's sandbox without curl or the admin secret (read from the data directory, never printed)."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_sandbox.api import FAULT_KINDS

from warden_cli import operations
from warden_cli.data_dir import existing_layout
from warden_cli.errors import UserError

fault_app = typer.Typer(help="Inject or clear a fault in the running stack's sandbox.", no_args_is_help=True)

FaultKind = StrEnum("FaultKind", {kind: kind for kind in FAULT_KINDS})  # type: ignore[misc]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="stack data directory (default .warden or $WARDEN_DATA_DIR)")
]
Service = Annotated[str, typer.Option("--service", help="the simulated service, e.g. checkout-api")]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (5, true, "v2") is taken as such, else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param {pair!r}: expected key=value, e.g. --param version=v2.4.1")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


@fault_app.command("inject")
def inject(
    kind: Annotated[FaultKind, typer.Argument(help="the fault (the sandbox's kinds)")],
    service: Service,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="key=value, repeatable: version (bad_deploy, deploy), days, percent, ..."),
    ] = None,
    log_text: Annotated[
        str | None, typer.Option("--log-text", help="a line the service then logs (untrusted text for the agent)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the sandbox's answer as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Inject KIND into SERVICE; the sandbox's metrics, logs and alerts follow over the next ticks."""
    params = parse_params(param or [])
    if log_text is not None:
        params["log_text"] = log_text
    answer = asyncio.run(operations.inject_fault(existing_layout(data_dir), service, str(kind), **params))
    if as_json:
        typer.echo(json.dumps(answer, sort_keys=True))
        return
    shown = {k: v for k, v in answer.get("params", {}).items()}
    typer.echo(
        f"fault {kind} injected into {service}" + (f" with {json.dumps(shown, sort_keys=True)}" if shown else "")
    )


@fault_app.command("clear")
def clear(
    service: Service,
    as_json: Annotated[bool, typer.Option("--json", help="print the sandbox's answer as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Drop every fault of SERVICE; its metrics settle back over the next ticks."""
    answer = asyncio.run(operations.clear_faults(existing_layout(data_dir), service))
    if as_json:
        typer.echo(json.dumps(answer, sort_keys=True))
        return
    cleared = answer.get("cleared") or []
    typer.echo(f"cleared {', '.join(cleared)} on {service}" if cleared else f"no faults on {service}")
