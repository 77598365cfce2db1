"""`warden up --service-users` refuses clearly where it cannot separate the services (not root, a
Python other users cannot reach); the setting WARDEN_SERVICE_USERS=1 turns it on like the flag."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warden_cli import service_users
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_cli.service_users import Account, ServiceUsers, ServiceUsersUnavailable


@pytest.mark.parametrize(("flag", "setting", "on"), [(True, "", True), (False, "1", True), (False, "", False)])
def test_the_flag_or_the_setting_turns_it_on(flag: bool, setting: str, on: bool) -> None:
    assert service_users.enabled(flag, {"WARDEN_SERVICE_USERS": setting}) is on


def test_not_root_with_the_flag_is_a_clear_error_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(app, ["up", "--service-users", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "--service-users needs root" in result.output and "docs/security-model.md" in result.output
    assert not (tmp_path / "data").exists()


def test_not_root_with_the_setting_is_the_same_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("WARDEN_SERVICE_USERS", "1")
    result = CliRunner().invoke(app, ["up", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "--service-users needs root" in result.output


def test_a_folder_other_users_cannot_pass_is_named() -> None:
    # Not pytest's tmp_path: its parent is 0700 already.
    with tempfile.TemporaryDirectory() as public:
        Path(public).chmod(0o755)
        closed = Path(public) / "home"
        (closed / "bin").mkdir(parents=True)
        # Explicit modes: an in-process `warden up` earlier in the run may have left umask 077.
        for folder in (closed, closed / "bin"):
            folder.chmod(0o755)
        python = closed / "bin" / "python"
        python.write_text("")
        python.chmod(0o755)
        if any(not folder.stat().st_mode & 0o001 for folder in Path(public).parents):
            pytest.skip(f"{public} is under a closed folder: nothing to tell apart")
        assert service_users.unreachable_by_others([python]) is None
        closed.chmod(0o700)
        expected = f"{closed} (mode 0o700) is not searchable by other users"
        assert service_users.unreachable_by_others([python]) == expected
        python.chmod(0o700)
        closed.chmod(0o755)
        assert service_users.unreachable_by_others([python]) == f"{python} is not readable by other users"


def test_a_file_two_services_would_read_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    shared = layout.root / "estate" / "catalog.yaml"
    shared.parent.mkdir(parents=True)
    shared.write_text("{}")
    me = Account("me", os.getuid(), os.getgid())
    users = ServiceUsers(layout, {"triage": me, "planner": me})
    triage_env = {"WARDEN_SERVICE_CATALOG": str(shared), "WARDEN_DATA_DIR": str(users.data_dir("triage"))}
    assert users.shared_reads("triage", triage_env) == [shared]
    if os.geteuid() != 0:
        pytest.skip("handing folders over chowns them: root only")
    with pytest.raises(ServiceUsersUnavailable, match="read by triage and planner"):
        users.hand_over({"triage": [shared], "planner": [shared]})


def test_as_root_a_data_folder_other_users_cannot_reach_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the check runs after the root check: root only")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    monkeypatch.setattr(service_users, "check_python", lambda: None)
    with pytest.raises(ServiceUsersUnavailable, match=f"{closed} is not searchable by other users"):
        ServiceUsers.prepare(Layout(closed / "data"), ())


def test_as_root_a_python_other_users_cannot_run_is_refused_before_anything_starts(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("root only: without root the root check refuses first")
    if service_users.unreachable_by_others([Path(sys.executable), Path(sys.base_prefix) / "lib"]) is None:
        pytest.skip(f"{sys.executable} is reachable by other users here")
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["up", "--service-users", "--random-ports", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "the service users cannot run" in result.output and "not searchable by other users" in result.output
    assert not (data / "stack.json").exists() and not (data / "nats-auth").exists()
