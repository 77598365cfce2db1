"""`warden approve` needs the approver's own credential: checked against the console's users file
before anything is signed or published."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_cli import approver_credential
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_console.bootstrap import ensure_embedded_users
from warden_contracts.events import ApprovalDecided, ProposedAction
from warden_testkit.audit_story import AuditStory
from warden_testkit.bus import EmbeddedBroker

APPROVAL = "ap-cred-1"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    layout = Layout(tmp_path / "stack")
    layout.keys.mkdir(parents=True)
    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    action = ProposedAction(
        action_id="act-1", kind="restart_service", target="checkout", params={}, rationale="r", confidence=0.9
    )

    async def write() -> None:
        async with AuditStory(layout.audit_dir) as story:
            await story.approval("inc-1", APPROVAL, action, datetime.now(UTC) + timedelta(minutes=10))

    asyncio.run(write())
    return layout.root


def initial_passwords(data_dir: Path) -> Path:
    return data_dir / "keys" / "console-initial-passwords.txt"


def approve(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["approve", APPROVAL, "--as", "alice", "--data-dir", str(data_dir), *extra])
    return result.exit_code, result.output


def test_approve_without_a_credential_is_refused(data_dir: Path) -> None:
    code, out = approve(data_dir)  # no terminal to prompt on, no --password-file
    assert code == 1 and "the approver's password is needed" in out


def test_a_wrong_password_is_refused(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "guess.txt").write_text("hunter2\n")
    code, out = approve(data_dir, "--password-file", str(tmp_path / "guess.txt"))
    assert code == 1 and "sign-in refused for alice: wrong user or password" in out


def test_another_persons_password_does_not_sign_in_as_alice(data_dir: Path, tmp_path: Path) -> None:
    bob = approver_credential.password_from_file(initial_passwords(data_dir), "bob")
    (tmp_path / "bob.txt").write_text(bob + "\n")
    code, out = approve(data_dir, "--password-file", str(tmp_path / "bob.txt"))
    assert code == 1 and "sign-in refused for alice" in out


def test_a_viewer_cannot_decide_even_with_the_right_password(data_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "deny",
            APPROVAL,
            "--as",
            "carol",
            "--data-dir",
            str(data_dir),
            "--password-file",
            str(initial_passwords(data_dir)),
        ],
    )
    assert result.exit_code == 1 and "carol is a viewer: only approvers decide approvals" in result.output


def test_the_prompt_is_used_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approver_credential.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(approver_credential.getpass, "getpass", lambda prompt: f"typed after {prompt!r}")
    assert approver_credential.read_password("alice", None) == "typed after 'password for alice: '"


async def test_the_right_password_signs_and_publishes(broker: EmbeddedBroker, data_dir: Path) -> None:
    layout = Layout(data_dir)
    layout.nats_auth.mkdir()
    shutil.copy(broker.creds("approver"), layout.creds("approver"))
    layout.write_stack({"nats_url": broker.url})
    code, out = await asyncio.to_thread(approve, data_dir, "--password-file", str(initial_passwords(data_dir)))
    assert code == 0, out
    [sent] = await broker.wait_for("sre.approval.decided.v1")
    assert sent.payload(ApprovalDecided).approval_id == APPROVAL and sent.source == "warden/cli/alice"
