"""Service Bus configuration and operations: Entra-only connections, the backend chosen by
settings, and the `warden servicebus dlq` commands against the namespace double."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_bus.azure_servicebus import entities
from warden_bus.azure_servicebus.bus import ServiceBusBus
from warden_bus.azure_servicebus.connection import ServiceBusConfigError, ServiceBusConnection, connect
from warden_bus.nats_bus import NatsBus
from warden_bus.runtime import bus_from_settings
from warden_bus.settings import ServiceSettings
from warden_cli import servicebus_commands
from warden_cli.main import app
from warden_contracts.envelope import Envelope
from warden_testkit.contracts import incident
from warden_testkit.servicebus import ServiceBusDouble, Stored

TOPIC = "sre.incident.changed.v1"


def test_connection_strings_are_refused_outside_the_emulator() -> None:
    real = (
        "Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc="
    )
    with pytest.raises(ServiceBusConfigError, match="only for the local emulator"):
        connect(namespace=None, connection=real)
    with pytest.raises(ServiceBusConfigError, match="NAMESPACE is required"):
        connect(namespace=None, connection=None)


async def test_emulator_and_entra_connections_build_real_clients() -> None:
    emulator = connect(
        namespace=None,
        connection="Endpoint=sb://127.0.0.1;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
    )
    entra = connect(namespace="warden.servicebus.windows.net", connection=None, managed_identity_client_id="cid")
    try:
        assert emulator.credential is None
        assert entra.credential is not None
        assert entra.client.fully_qualified_namespace == "warden.servicebus.windows.net"
    finally:
        await emulator.close()
        await entra.close()


def test_cli_lists_and_redrives_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = ServiceBusDouble()
    env = incident(5)
    ns.enqueue(TOPIC, ns_stored(env))
    entity = ns.subscriptions[(TOPIC, "audit")]
    ns.dead_letter(TOPIC, "audit", entity.messages[0], "schema violation", "audit gave up")
    monkeypatch.setattr(servicebus_commands, "connect", lambda **_: ServiceBusConnection(ns.client()))
    runner = CliRunner()
    listed = runner.invoke(
        app, ["servicebus", "dlq", "list", "--topic", TOPIC, "--subscription", "audit", "--namespace", "x"]
    )
    assert listed.exit_code == 0, listed.output
    assert '"reason": "schema violation"' in listed.output and env.id in listed.output
    moved = runner.invoke(
        app, ["servicebus", "dlq", "redrive", "--topic", TOPIC, "--subscription", "audit", "--namespace", "x"]
    )
    assert moved.exit_code == 0, moved.output
    assert [m.properties[entities.TARGET_PROPERTY] for m in ns.subscriptions[(TOPIC, "audit")].messages] == ["audit"]
    assert ns.subscriptions[(TOPIC, "planner")].messages[0].message_id == env.id  # untouched original copy only
    wrong = runner.invoke(
        app, ["servicebus", "dlq", "list", "--topic", TOPIC, "--subscription", "executor", "--namespace", "x"]
    )
    assert wrong.exit_code == 2 and "has no subscription" in wrong.output


def ns_stored(env: Envelope) -> Stored:
    return Stored(0, env.id, env.to_bytes(), {}, correlation_id=env.correlationid, subject=env.type)


async def test_settings_choose_the_adapter(tmp_path: Path) -> None:
    emulator = "Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"
    sb = bus_from_settings(
        "planner",
        ServiceSettings(nats_creds=tmp_path / "x.creds", bus_backend="servicebus", servicebus_connection=emulator),
    )
    nats_bus = bus_from_settings("planner", ServiceSettings(nats_creds=tmp_path / "x.creds"))
    assert isinstance(sb, ServiceBusBus) and sb.identity == "planner"
    assert isinstance(nats_bus, NatsBus)
    await sb.stop()
    with pytest.raises(ServiceBusConfigError):
        bus_from_settings("planner", ServiceSettings(nats_creds=tmp_path / "x.creds", bus_backend="servicebus"))
