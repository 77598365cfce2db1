"""The composition root: settings from WARDEN_* variables, strict overrides, startup checks."""

from __future__ import annotations

import aiohttp
import pytest
from warden_executor.app import Settings, create_app
from warden_security.keys import public_pem


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
    runtime = create_app(target_provider=kit.InMemoryTarget())
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
    runtime = create_app(target_provider=kit.InMemoryTarget())
    await runtime.start()
    try:
        assert (env / "data" / "state" / "executor.db").exists()
        url = f"http://127.0.0.1:{runtime.bound_port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["service"] == "executor"
    finally:
        await runtime.stop()
