"""The composition root: settings from WARDEN_* variables, strict overrides, startup checks."""

from __future__ import annotations

import re
import socket

import aiohttp
import pytest
from warden_executor.app import ExecutorPorts, Settings, create_app
from warden_persistence import PostgresDatabase, table_columns
from warden_security.keys import public_pem
from warden_testkit.postgres import postgres_schema


@pytest.fixture
def env(monkeypatch, tmp_path, policy):
    pubkey = tmp_path / "policy.pub.pem"
    pubkey.write_bytes(public_pem(policy.key.public_key()))
    values = {
        "WARDEN_NATS_URL": "nats://127.0.0.1:4999",
        "WARDEN_NATS_CREDS": str(tmp_path / "executor.creds"),
        "WARDEN_DATA_DIR": str(tmp_path / "data"),
        "WARDEN_SANDBOX_URL": "http://127.0.0.1:8700",
        "WARDEN_POLICY_PUBKEY": str(pubkey),
        "WARDEN_HTTP_PORT": "0",
        "WARDEN_LOG_LEVEL": "DEBUG",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_settings_come_from_warden_variables(env):
    settings = Settings()

    assert settings.nats_url == "nats://127.0.0.1:4999"
    assert settings.sandbox_url == "http://127.0.0.1:8700"
    assert settings.elevation_ttl_s == 120
    assert settings.db_path == env / "data" / "state" / "executor.db"


def test_create_app_reads_the_policy_key_and_rejects_unknown_overrides(env, kit):
    runtime = create_app(ports=ExecutorPorts(target_provider=kit.InMemoryTarget()))
    assert runtime.name == "executor" and runtime.bus.identity == "executor"

    with pytest.raises(TypeError, match="unknown overrides: \\['sandbox'\\]"):
        create_app(sandbox=object())


def test_elevation_ttl_that_cannot_cover_one_action_is_refused(env, monkeypatch):
    monkeypatch.setenv("WARDEN_ELEVATION_TTL_S", "30")

    with pytest.raises(ValueError, match="cannot cover one action"):
        create_app()


async def test_runtime_opens_its_state_and_serves_health(env, broker, monkeypatch, kit):
    monkeypatch.setenv("WARDEN_NATS_URL", broker.url)
    monkeypatch.setenv("WARDEN_NATS_CREDS", str(broker.creds("executor")))
    runtime = create_app(ports=ExecutorPorts(target_provider=kit.InMemoryTarget()))
    await runtime.start()
    try:
        assert (env / "data" / "state" / "executor.db").exists()
        url = f"http://127.0.0.1:{runtime.bound_port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["service"] == "executor"
    finally:
        await runtime.stop()


def test_azure_backends_are_checked_at_startup(env, monkeypatch):
    monkeypatch.setenv("WARDEN_TARGET_BACKEND", "azure")
    with pytest.raises(ValueError, match="WARDEN_AZURE_SUBSCRIPTION_ID"):
        create_app()
    monkeypatch.setenv("WARDEN_AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-00000000abcd")
    monkeypatch.setenv("WARDEN_ELEVATION_BACKEND", "azure-pim")
    with pytest.raises(ValueError, match="WARDEN_REMEDIATOR_PRINCIPAL_ID"):
        create_app()
    monkeypatch.setenv("WARDEN_REMEDIATOR_PRINCIPAL_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("WARDEN_PIM_ROLES", '["/subscriptions/x/resourceGroups/rg|acdd72a7"]')
    with pytest.raises(ValueError, match="Azure Service Bus"):
        create_app()


async def test_azure_targets_are_routed_by_address(env, kit):
    from warden_executor.adapters.azure_wiring import RoutingTargetProvider, parse_roles
    from warden_executor.domain.model import TargetNotFound

    arm, kube = kit.InMemoryTarget(services={"/subscriptions/s/x": {}}), kit.InMemoryTarget(services={"ns/d": {}})
    routing = RoutingTargetProvider(arm, kube)
    await routing.observe("/subscriptions/s/x")
    await routing.observe("ns/d")
    assert (arm.observations, kube.observations) == (1, 1)
    with pytest.raises(TargetNotFound, match="no Kubernetes cluster"):
        await RoutingTargetProvider(arm, None).observe("ns/d")
    with pytest.raises(ValueError, match=re.escape("expected '<scope>|<role definition id>'")):
        parse_roles(["Contributor"])


def test_replica_id_defaults_to_host_and_port_and_a_bad_store_url_stops_the_start(env, monkeypatch):
    assert Settings().replica_id == f"{socket.gethostname()}:0"
    monkeypatch.setenv("WARDEN_EXECUTOR_REPLICA_ID", "executor-2")
    assert Settings().replica_id == "executor-2"
    monkeypatch.setenv("WARDEN_EXECUTOR_STORE_URL", "mysql://db/warden")
    with pytest.raises(ValueError, match="unsupported store URL scheme"):
        create_app()


async def test_the_store_url_puts_the_ledger_in_postgresql(env, broker, monkeypatch, kit):
    async with postgres_schema("executor_app") as url:
        monkeypatch.setenv("WARDEN_NATS_URL", broker.url)
        monkeypatch.setenv("WARDEN_NATS_CREDS", str(broker.creds("executor")))
        monkeypatch.setenv("WARDEN_EXECUTOR_STORE_URL", url)
        runtime = create_app(ports=ExecutorPorts(target_provider=kit.InMemoryTarget()))
        await runtime.start()
        try:
            assert not (env / "data" / "state" / "executor.db").exists()
            db = await PostgresDatabase.open(url)
            try:
                async with db.transaction() as session:
                    assert {"holder", "lease_until", "envelope"} <= await table_columns(session, "ledger")
            finally:
                await db.close()
        finally:
            await runtime.stop()
