"""`warden init PATH`, `warden check [PATH]`, and what `warden up` prints about the estate."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from warden_triage import api as triage

from warden_cli.errors import UserError

if TYPE_CHECKING:
    from warden_cli.launcher import EmbeddedStack
    from warden_cli.layout import Layout

DEFAULT_PATH = Path("warden.yaml")


def starter_text() -> str:
    return resources.files("warden_estate").joinpath("starter.yaml").read_text()


def init(
    path: Annotated[Path, typer.Argument(help="where to write the starter estate")] = DEFAULT_PATH,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write a commented starter estate file (warden.yaml)."""
    if path.exists() and not force:
        typer.secho(f"{path} exists; pass --force to overwrite it", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_text())
    typer.echo(f"wrote {path}: edit the services, then `warden check {path}` and `warden up --config {path}`")


def check(
    path: Annotated[Path, typer.Argument(help="the estate file")] = DEFAULT_PATH,
) -> None:
    """Validate and cross-check warden.yaml; errors name file:line and the fix."""
    from warden_estate import EstateInvalid, load_estate

    if not path.is_file():
        raise UserError(f"no estate file at {path} (write one with `warden init {path}`)")
    try:
        estate = load_estate(path)
    except EstateInvalid as err:
        for problem in err.problems:
            typer.secho(str(problem), fg=typer.colors.RED, err=True)
        typer.secho(f"{len(err.problems)} problem(s) in {path}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    ports = ", ".join(f"{k} {v or 'free'}" for k, v in estate.ports().items())
    typer.echo(
        f"{path}: ok — {len(estate.services)} services, {len(estate.response_plans)} response plans, "
        f"{len(estate.scheduled_tasks)} scheduled tasks, {len(estate.approvers.users)} approvers\n  ports: {ports}"
    )


def webhook_lines(base_url: str, token_file: Path) -> list[str]:
    """One line per alert sender: its webhook and its credential (a route the operator switched to
    HMAC takes that secret, not the token)."""
    hmac_routes = triage.hmac_routes()
    lines = []
    for source, route in triage.SENDERS.items():
        credential = (
            f"HMAC secret from {triage.HMAC_SECRETS_VARIABLE}"
            if route in hmac_routes
            else f"Authorization: Bearer <{token_file}>"
        )
        if route == "azure-monitor" and route not in hmac_routes:
            credential += ", or ?token=<it> from an action group"
        lines.append(f"    {source:<14} {base_url}/webhooks/{route}   ({credential})")
    return lines


def announce(stack: EmbeddedStack, layout: Layout, estate_source: Path, services: int) -> str:
    from warden_cli.estate_wiring import webhook_token_file

    base = stack.webhook_url.rsplit("/webhooks/", 1)[0]
    token_file = webhook_token_file(layout)
    return "\n".join(
        [
            f"Warden is up. Estate: {estate_source} ({services} services). Data: {layout.root}",
            f"  webhooks (the bearer token is in {token_file}; `warden connect <source>` prints a receiver):",
            *webhook_lines(base, token_file),
            f"  sandbox  {stack.sandbox_url}",
            f"  console  {stack.console_url}  (first sign-in: {layout.keys / 'console-initial-passwords.txt'})",
            f"  logs     {layout.logs}",
            f"  nats     {stack.nats.url if stack.nats else ''}",
            "Ctrl-C to stop.",
        ]
    )
