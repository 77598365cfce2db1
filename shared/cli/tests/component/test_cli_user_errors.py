"""Every command of the CLI, given a user's mistake (a data directory that does not exist, a stack
that is not running or died without cleaning up, a missing file, a bad option), exits non-zero with
one line on stderr and no traceback.

The table must name every command the shell offers: a new command without a row fails
`test_every_command_has_a_user_error_case`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner
from warden_cli.main import app

ALERT = Path(__file__).parents[4] / "services/triage/tests/fixtures/prometheus_latency_firing.json"

# {missing}: no such directory; {stopped}: a data dir whose stack is not running (no stack.json);
# {stale}: a data dir whose stack.json names ports nothing listens on (a stack that was killed);
# {file}: an existing regular file; {alert}: a real alert document; {pw}: a password file.
CASES: dict[str, list[list[str]]] = {
    "up": [["--config", "{missing}/warden.yaml", "--data-dir", "{fresh}"]],
    "demo": [["--data-dir", "{file}"]],
    "ingest": [
        ["{alert}", "--data-dir", "{missing}"],
        ["{alert}", "--data-dir", "{stopped}"],
        ["{alert}", "--data-dir", "{stale}"],
        ["{missing}/alert.json", "--data-dir", "{stale}"],
    ],
    "incidents": [["--data-dir", "{missing}"], ["--json", "--data-dir", "{missing}"]],
    "kill-switch": [
        ["on", "--data-dir", "{missing}"],
        ["on", "--data-dir", "{stopped}"],
        ["on", "--data-dir", "{stale}"],
    ],
    "mode": [["reader", "--data-dir", "{missing}"], ["reader", "--data-dir", "{stale}"]],
    "kpi": [["--data-dir", "{missing}"], ["--audit-dir", "{missing}"]],
    "shadow report": [["--data-dir", "{missing}"], ["--audit-dir", "{missing}"]],
    "approve": [["abcdef12", "--as", "alice", "--password-file", "{pw}", "--data-dir", "{missing}"]],
    "deny": [["abcdef12", "--as", "alice", "--password-file", "{pw}", "--data-dir", "{missing}"]],
    "eval": [["{missing}"]],
    "tasks": [["--data-dir", "{missing}"]],
    "init": [["{file}"]],
    "check": [["{missing}/warden.yaml"]],
    "connect": [["alertmanager", "--config", "{missing}/warden.yaml", "--data-dir", "{fresh}"], ["nosuch"]],
    "bench cli": [["--no-such-option"]],
    "bench e2e": [["--no-such-option"]],
    "bench executor": [["--no-such-option"]],
    "bench planner": [["--no-such-option"]],
    "bench audit": [["--no-such-option"]],
    "bench policy": [["--no-such-option"]],
    "bench triage": [["--no-such-option"]],
    "servicebus dlq list": [["--topic", "sre.incident.changed.v1", "--subscription", "planner"]],
    "servicebus dlq redrive": [["--topic", "sre.incident.changed.v1", "--subscription", "planner"]],
    "cluster up": [["--no-such-option"]],
    "cluster down": [["--data-dir", "{missing}"]],
    "cluster status": [["--data-dir", "{missing}"]],
    "compose init": [["--data-dir", "{file}"]],
    "generate": [["--root", "{missing}"], ["--root", "{fresh}", "--check"]],
    "compose provision": [["--data-dir", "{missing}", "--nats-url", "{dead_nats}"]],
    "audit verify": [["--data-dir", "{missing}"], ["--json", "--data-dir", "{missing}"]],
    "audit export": [["--data-dir", "{missing}"], ["--audit-dir", "{missing}"]],
    "audit prove": [["--seq", "1", "--data-dir", "{missing}"]],
    "audit check-bundle": [["{missing}/bundle.json", "--public-key", "{file}"]],
    "audit approvals": [["--data-dir", "{missing}"]],
    "audit erase": [["--principal", "alice", "--data-dir", "{missing}"]],
    "approvals": [["--data-dir", "{missing}"], ["--json", "--data-dir", "{missing}"]],
    "approvals list": [["--data-dir", "{missing}"], ["--json", "--data-dir", "{missing}"]],
    "approvals show": [["abcdef12", "--data-dir", "{missing}"]],
    "approvals approve": [["abcdef12", "--as", "alice", "--password-file", "{pw}", "--data-dir", "{missing}"]],
    "approvals deny": [["abcdef12", "--as", "alice", "--password-file", "{pw}", "--data-dir", "{missing}"]],
    "policy test": [["--policy-dir", "{missing}"], ["--json", "--policy-dir", "{missing}"]],
    "policy replay": [["--since", "1h", "--data-dir", "{missing}"]],
    "autonomy status": [["--data-dir", "{missing}"], ["--json", "--data-dir", "{missing}"]],
    "autonomy promote": [
        ["restart-on-memory-leak", "--data-dir", "{missing}"],
        ["restart-on-memory-leak", "--force", "--reason", "drill", "--data-dir", "{stale}"],
    ],
    "autonomy demote": [
        ["restart-on-memory-leak", "--data-dir", "{missing}"],
        ["restart-on-memory-leak", "--data-dir", "{stopped}"],
    ],
    "fault inject": [
        ["memory_leak", "--service", "checkout-api", "--data-dir", "{missing}"],
        ["memory_leak", "--service", "checkout-api", "--data-dir", "{stopped}"],
        ["memory_leak", "--service", "checkout-api", "--data-dir", "{stale}"],
        ["no_such_fault", "--service", "checkout-api", "--data-dir", "{stale}"],
    ],
    "fault clear": [
        ["--service", "checkout-api", "--data-dir", "{missing}"],
        ["--service", "checkout-api", "--data-dir", "{stale}"],
    ],
}


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every runnable command path; a group that runs without a subcommand counts itself too."""
    if not hasattr(command, "list_commands"):
        yield " ".join(path)
        return
    if path and command.invoke_without_command:
        yield " ".join(path)
    ctx = typer.Context(command)
    for name in command.list_commands(ctx):
        yield from _leaves(command.get_command(ctx, name), (*path, name))


LEAVES = sorted(_leaves(typer.main.get_command(app)))


@dataclass(frozen=True)
class Dirs:
    values: dict[str, str]

    def fill(self, args: list[str]) -> list[str]:
        return [arg.format(**self.values) for arg in args]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on return: nothing listens there


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    stopped, stale = tmp_path / "stopped", tmp_path / "stale"
    for root in (stopped, stale):
        (root / "audit").mkdir(parents=True)
        (root / "nats-auth").mkdir()
    port = _closed_port()
    (stale / "stack.json").write_text(
        json.dumps(
            {
                "nats_url": f"nats://127.0.0.1:{port}",
                "webhook_url": f"http://127.0.0.1:{port}/webhooks/azure-monitor",
                "sandbox_url": f"http://127.0.0.1:{port}",
                "console_url": f"http://127.0.0.1:{port}",
            }
        )
    )
    for identity in ("operator", "approver"):
        (stale / "nats-auth" / f"{identity}.creds").write_text("")
    (tmp_path / "file").write_text("not a directory\n")
    (tmp_path / "pw").write_text("secret\n")
    values = {
        "missing": str(tmp_path / "missing"),
        "stopped": str(stopped),
        "stale": str(stale),
        "fresh": str(tmp_path / "fresh"),
        "file": str(tmp_path / "file"),
        "pw": str(tmp_path / "pw"),
        "alert": str(ALERT),
        "dead_nats": f"nats://127.0.0.1:{port}",
    }
    return Dirs(values)


def test_every_command_has_a_user_error_case() -> None:
    assert [leaf for leaf in LEAVES if leaf not in CASES] == []


CALLS = [(name, args) for name in LEAVES for args in CASES.get(name, [])]


@pytest.mark.parametrize(("command", "args"), CALLS, ids=[f"{c}:{' '.join(a)}" for c, a in CALLS])
def test_a_user_error_is_one_line_on_stderr(
    command: str, args: list[str], dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WARDEN_DATA_DIR", "WARDEN_SERVICEBUS_NAMESPACE", "WARDEN_SERVICEBUS_CONNECTION", "WARDEN_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDEN_CLI_CONNECT_TIMEOUT_S", "1")
    result = CliRunner().invoke(app, [*command.split(), *dirs.fill(args)], prog_name="warden", env={"COLUMNS": "200"})
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr


def test_the_installed_command_prints_one_line_too(dirs: Dirs) -> None:
    missing = dirs.values["missing"]
    done = subprocess.run(
        [sys.executable, "-m", "warden_cli", "incidents", "--data-dir", missing],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"warden incidents: no Warden data directory at {missing} (is --data-dir or $WARDEN_DATA_DIR right? "
        "`warden up` creates it)"
    ]
