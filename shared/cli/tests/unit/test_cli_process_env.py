"""Each child's environment under `warden up`, pinned for one data dir: every variable name and
value the launcher hands every service (written before the environments came from one process
description, warden_cli.process_description; it must keep passing unchanged)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from warden_bus.embedded_auth import ensure_auth_material
from warden_bus.embedded_server import EmbeddedNats
from warden_cli.key_folders import KeyFolders
from warden_cli.launcher import CHILDREN, EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.process_description import PROCESSES, process
from warden_console.bootstrap import ensure_embedded_users

PORTS = {name: 40100 + i for i, name in enumerate(CHILDREN)}
NATS_PORT = 40099


def _stack(root: Path, options: StackOptions) -> EmbeddedStack:
    layout = Layout(root)
    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    folders = KeyFolders(layout)
    folders.create_owned_keys()
    stack = EmbeddedStack(layout, options)
    stack.nats = EmbeddedNats(root, port=NATS_PORT)
    stack.placed = folders.place_all(ensure_auth_material(layout.nats_auth), layout.secrets(), CHILDREN)
    return stack


def _warden_env(stack: EmbeddedStack, service: str) -> dict[str, str]:
    return {k: v for k, v in stack._env(service, PORTS).items() if k.startswith("WARDEN_")}


@pytest.fixture(autouse=True)
def _no_warden_variables_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WARDEN_"):
            monkeypatch.delenv(name)


def _today(root: Path, *, trace: bool) -> dict[str, dict[str, str]]:
    keys = root / "keys"

    def base(service: str) -> dict[str, str]:
        env = {
            "WARDEN_NATS_URL": f"nats://127.0.0.1:{NATS_PORT}",
            "WARDEN_DATA_DIR": str(root),
            "WARDEN_HTTP_PORT": str(PORTS[service]),
            "WARDEN_LOG_LEVEL": "DEBUG" if trace else "INFO",
        }
        if trace:
            env["WARDEN_TRACE_FILE"] = str(root / "trace.jsonl")
        return env

    def key(service: str, name: str = "") -> str:
        return str(keys / service / name) if name else str(keys / service)

    sandbox_url = f"http://127.0.0.1:{PORTS['sandbox']}"
    return {
        "sandbox": base("sandbox")
        | {
            "WARDEN_SANDBOX_PORT": str(PORTS["sandbox"]),
            "WARDEN_SANDBOX_TICK_S": "0.25" if trace else "0.5",
            "WARDEN_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{PORTS['triage']}/webhooks/azure-monitor",
            "WARDEN_SANDBOX_ADMIN_SECRET_FILE": key("sandbox", "admin-secret"),
            "WARDEN_ALERT_WEBHOOK_TOKEN_FILE": key("sandbox", "alert-webhook-token"),
            "WARDEN_SANDBOX_TOKEN_PUBKEY": key("sandbox", "elevation-authority.pub.pem"),
        },
        "triage": base("triage")
        | {
            "WARDEN_NATS_CREDS": key("triage", "triage.creds"),
            "WARDEN_WEBHOOK_TOKEN_FILE": key("triage", "webhook-token"),
        },
        "planner": base("planner")
        | {"WARDEN_SANDBOX_URL": sandbox_url, "WARDEN_NATS_CREDS": key("planner", "planner.creds")},
        "policy": base("policy")
        | ({"WARDEN_APPROVAL_TIMEOUT_S": "30"} if trace else {})
        | {
            "WARDEN_NATS_CREDS": key("policy", "policy.creds"),
            "WARDEN_SIGNING_KEY": key("policy", "policy-signing.pem"),
            "WARDEN_APPROVER_ISSUER_PUBKEY": key("policy", "approver-issuer.pub.pem"),
        },
        "executor": base("executor")
        | {
            "WARDEN_SANDBOX_URL": sandbox_url,
            "WARDEN_NATS_CREDS": key("executor", "executor.creds"),
            "WARDEN_POLICY_PUBKEY": key("executor", "policy-signing.pub.pem"),
        },
        "audit": base("audit")
        | {
            "WARDEN_AUDIT_DIR": str(root / "audit"),
            "WARDEN_NATS_CREDS": key("audit", "audit.creds"),
            "WARDEN_AUDIT_SIGNING_KEY": key("audit", "audit-signing.pem"),
            "WARDEN_APPROVER_ISSUER_PUBKEY": key("audit", "approver-issuer.pub.pem"),
        },
        "console": base("console")
        | {
            "WARDEN_AUDIT_URL": f"http://127.0.0.1:{PORTS['audit']}",
            "WARDEN_NATS_CREDS": key("console", "approver.creds"),
            "WARDEN_OPERATOR_CREDS": key("console", "operator.creds"),
            "WARDEN_APPROVER_ISSUER_KEY": key("console", "approver-issuer.pem"),
            "WARDEN_USERS_FILE": key("console", "console-users.yaml"),
        },
        "scheduler": base("scheduler")
        | ({"WARDEN_SCHEDULER_TASKS_FILE": str(root / "tasks.yaml")} if trace else {})
        | {"WARDEN_NATS_CREDS": key("scheduler", "scheduler.creds")},
        "elevation": base("elevation")
        | {
            "WARDEN_NATS_CREDS": key("elevation", "elevation.creds"),
            "WARDEN_ELEVATION_KEY": key("elevation", "elevation-authority.pem"),
            "WARDEN_POLICY_PUBKEY": key("elevation", "policy-signing.pub.pem"),
            "WARDEN_NATS_ACCOUNT_DIR": key("elevation"),
        },
    }


def test_default_options_give_todays_environment(tmp_path: Path) -> None:
    stack = _stack(tmp_path, StackOptions())
    expected = _today(tmp_path, trace=False)
    assert set(expected) == set(CHILDREN)
    for service in CHILDREN:
        assert _warden_env(stack, service) == expected[service], service


def test_every_option_set_gives_todays_environment(tmp_path: Path) -> None:
    options = StackOptions(
        tick_s=0.25,
        approval_timeout_s=30,
        log_level="DEBUG",
        trace_file=tmp_path / "trace.jsonl",
        scheduler_tasks_file=tmp_path / "tasks.yaml",
    )
    stack = _stack(tmp_path, options)
    expected = _today(tmp_path, trace=True)
    for service in CHILDREN:
        assert _warden_env(stack, service) == expected[service], service


def test_estate_settings_lose_to_the_shell_and_extra_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_TRIAGE_STORE_URL", "from-the-shell")
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN", "from-the-shell")
    options = StackOptions(
        estate_env={"triage": {"WARDEN_TRIAGE_STORE_URL": "from-warden.yaml", "WARDEN_ESTATE_X": "kept"}},
        extra_env={"triage": {"WARDEN_LOG_LEVEL": "WARNING", "WARDEN_WEBHOOK_TOKEN": "a test's own"}},
    )
    env = _warden_env(_stack(tmp_path, options), "triage")
    assert env["WARDEN_TRIAGE_STORE_URL"] == "from-the-shell"
    assert env["WARDEN_ESTATE_X"] == "kept"
    assert env["WARDEN_LOG_LEVEL"] == "WARNING"
    # The key folder's file replaced the shell's value; the test's value replaced the file again.
    assert env["WARDEN_WEBHOOK_TOKEN"] == "a test's own"
    assert "WARDEN_WEBHOOK_TOKEN_FILE" not in env


def test_every_child_has_a_description_and_its_key_files_are_what_its_folder_holds(tmp_path: Path) -> None:
    """The description names each key-folder variable and file; key_folders places them: one list."""
    stack = _stack(tmp_path, StackOptions())
    assert tuple(PROCESSES) == CHILDREN
    for service in CHILDREN:
        described = {k: v for k, v in _warden_env(stack, service).items() if k in process(service).key_folder_names()}
        assert described == dict(stack.placed[service].env), service
        assert process(service).module == f"warden_{service}"
