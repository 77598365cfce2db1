"""A child of `warden up` gets an allow-listed environment, not the launcher's (issue 16 item 4):
a secret exported in the operator's shell reaches no service; a service's own settings still do,
secret ones as files in its key folder."""

from __future__ import annotations

import importlib
import stat
from pathlib import Path

import pytest
from warden_bus.embedded_auth import ensure_auth_material
from warden_bus.embedded_server import EmbeddedNats
from warden_bus.trace_export import TracingSettings
from warden_cli import child_env
from warden_cli.key_folders import KeyFolders
from warden_cli.launcher import CHILDREN, EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.process_description import PROCESSES
from warden_console.bootstrap import ensure_embedded_users

SHELL_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0xdeadbeef",
    "GITHUB_TOKEN": "ghp_launcher_only_token",
    "AZURE_CLIENT_SECRET": "azure-client-secret-value",
    "WARDEN_ADMIN_PASSWORD": "not-a-setting-of-anyone",
}


PORTS = {name: 41100 + i for i, name in enumerate(CHILDREN)}


def _stack(root: Path, options: StackOptions) -> EmbeddedStack:
    """A stack whose key folders are placed, not started: `_env` is what `start` would pass."""
    layout = Layout(root)
    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    folders = KeyFolders(layout)
    folders.create_owned_keys()
    stack = EmbeddedStack(layout, options)
    stack.nats = EmbeddedNats(root, port=41099)
    stack.placed = folders.place_all(ensure_auth_material(layout.nats_auth), layout.secrets(), CHILDREN)
    return stack


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SHELL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WARDEN_LLM_API_KEY", "sk-planner-only")
    monkeypatch.setenv("WARDEN_LLM_MODEL", "gpt-test")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")


def test_a_secret_in_the_launcher_environment_reaches_no_child(tmp_path: Path, shell: None) -> None:
    stack = _stack(tmp_path, StackOptions())
    for service in CHILDREN:
        env = stack._env(service, PORTS)
        leaked = sorted(v for v in (*SHELL_SECRETS.values(), "sk-planner-only") if v in env.values())
        assert not leaked, f"{service} got {leaked}"
        assert not set(SHELL_SECRETS) & set(env), service
        assert env["LANG"] == "C.UTF-8" and env["PYTHONUNBUFFERED"] == "1" and "PATH" in env
        if service != "planner":  # not one of their settings
            assert "WARDEN_LLM_MODEL" not in env and "WARDEN_LLM_API_KEY_FILE" not in env, service


def test_a_service_gets_its_own_settings_and_its_secrets_as_files(tmp_path: Path, shell: None) -> None:
    stack = _stack(tmp_path, StackOptions())
    env = stack._env("planner", PORTS)
    assert env["WARDEN_LLM_MODEL"] == "gpt-test"
    assert "WARDEN_LLM_API_KEY" not in env
    secret = Path(env["WARDEN_LLM_API_KEY_FILE"])
    assert secret.parent == tmp_path / "keys" / "planner"
    assert secret.read_text() == "sk-planner-only"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_an_exported_file_variable_of_the_service_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_LLM_API_KEY_FILE", "/run/credentials/llm-key")
    stack = _stack(tmp_path, StackOptions())
    assert stack._env("planner", PORTS)["WARDEN_LLM_API_KEY_FILE"] == "/run/credentials/llm-key"
    assert "WARDEN_LLM_API_KEY_FILE" not in stack._env("executor", PORTS)


@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_the_settings_read_from_source_are_the_settings_the_service_reads(service: str) -> None:
    module = PROCESSES[service].module
    settings = importlib.import_module(f"{module}.app").Settings
    real = {f"WARDEN_{name.upper()}" for name in (*settings.model_fields, *TracingSettings.model_fields)}
    assert set(child_env.settings_fields(module)) == real
    secret = {n for n, f in child_env.settings_fields(module).items() if f.secret}
    assert secret == {
        f"WARDEN_{name.upper()}" for name, info in settings.model_fields.items() if "SecretStr" in str(info.annotation)
    }
