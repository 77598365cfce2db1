"""`warden servicebus dlq list|redrive`: a subscription's dead-letter sub-queue on Azure Service Bus.

Runs as the operator's own Entra identity (`az login`, or a managed identity) against
`--namespace`; a connection string is accepted only for the local emulator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, TypeVar

import typer
from azure.core.exceptions import AzureError
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusError
from warden_bus.azure_servicebus import deadletters
from warden_bus.azure_servicebus.connection import ServiceBusConfigError, connect

servicebus_app = typer.Typer(help="Azure Service Bus operations (dead letters).", no_args_is_help=True)
dlq_app = typer.Typer(help="A subscription's dead-letter sub-queue.", no_args_is_help=True)
servicebus_app.add_typer(dlq_app, name="dlq")

T = TypeVar("T")
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", envvar="WARDEN_SERVICEBUS_NAMESPACE", help="<name>.servicebus.windows.net"),
]
Connection = Annotated[
    str | None,
    typer.Option("--connection", envvar="WARDEN_SERVICEBUS_CONNECTION", help="emulator connection string only"),
]
Topic = Annotated[str, typer.Option("--topic", help="e.g. sre.incident.changed.v1")]
Subscription = Annotated[str, typer.Option("--subscription", help="the consuming service, e.g. planner")]


def _run(namespace: str | None, connection: str | None, work: Callable[[ServiceBusClient], Awaitable[T]]) -> T:
    async def go() -> T:
        conn = connect(namespace=namespace, connection=connection)
        try:
            return await work(conn.client)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except (ServiceBusConfigError, ValueError) as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except (ServiceBusError, AzureError) as err:
        # Refused roles, unknown entities, unreachable namespaces: the SDK's message says which.
        typer.secho(f"Service Bus refused or failed: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@dlq_app.command("list")
def dlq_list(
    topic: Topic,
    subscription: Subscription,
    namespace: Namespace = None,
    connection: Connection = None,
    limit: int = 50,
) -> None:
    """Show dead letters (peeked: nothing is locked or removed), one JSON object per line."""
    letters = _run(namespace, connection, lambda c: deadletters.peek(c, topic, subscription, limit))
    for letter in letters:
        typer.echo(json.dumps(asdict(letter)))
    typer.echo(f"{len(letters)} dead letter(s) on {topic}/{subscription}", err=True)


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Topic,
    subscription: Subscription,
    namespace: Namespace = None,
    connection: Connection = None,
    limit: int = 100,
) -> None:
    """Send dead letters back to SUBSCRIPTION only (other subscriptions never see them again)."""
    moved = _run(namespace, connection, lambda c: deadletters.redrive(c, topic, subscription, limit))
    for letter in moved:
        typer.echo(json.dumps({"redriven": letter.message_id, "reason": letter.reason}))
    typer.echo(f"re-drove {len(moved)} message(s) to {topic}/{subscription}", err=True)
