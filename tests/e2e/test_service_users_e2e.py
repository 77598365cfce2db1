"""`warden up --service-users` (issue 16 item 4): every service runs as its own system user, so a
compromised executor cannot read policy's signing key, and the stack still handles an incident
end to end (alert, plan, policy, elevation, executor, verified fix, audit).

Needs root (the launcher creates the `warden-<service>` users). The data folder sits in a 0755
temporary folder, not pytest's 0700 `tmp_path`, so the service users can reach it.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from warden_cli.demo import autonomous_scenario
from warden_cli.layout import Layout
from warden_testkit.embedded_up import nats_pids, public_python, start_up, stop_up, uid_of, wait_stack

pytestmark = pytest.mark.e2e
SCENARIO_TIMEOUT_S = 300


@pytest.fixture
def public_folder() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("warden up --service-users needs root (it creates the warden-<service> users): run as root")
    if shutil.which("runuser") is None or shutil.which("useradd") is None:
        pytest.skip("needs runuser and useradd (util-linux, passwd)")
    folder = Path(tempfile.mkdtemp(prefix="warden-service-users-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _as(user: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True, check=False)


def _owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def test_each_service_is_its_own_user_and_the_executor_cannot_read_policys_key(public_folder: Path) -> None:
    python, why = public_python(public_folder)
    if python is None:
        pytest.skip(why)
    data = public_folder / "stack"
    up = start_up(data, "--service-users", python=str(python))
    try:
        stack = wait_stack(data, up)
        uids = {name: uid_of(pid) for name, pid in stack["pids"].items()}
        assert uids == {name: pwd.getpwnam(f"warden-{name}").pw_uid for name in uids}
        assert len(set(uids.values())) == len(uids) == 9, uids
        assert 0 not in uids.values() and all(uid_of(pid) == 0 for pid in nats_pids(data))

        policy_key = data / "keys" / "policy" / "policy-signing.pem"
        stolen = _as("warden-executor", "cat", str(policy_key))
        assert stolen.returncode != 0 and "Permission denied" in stolen.stderr, stolen
        assert _as("warden-policy", "cat", str(policy_key)).stdout.startswith("-----BEGIN PRIVATE KEY-----")
        seed = data / "keys" / "elevation" / "account.seed"
        assert "Permission denied" in _as("warden-policy", "cat", str(seed)).stderr
        assert "Permission denied" in _as("warden-audit", "ls", str(data / "keys" / "console")).stderr
        assert "Permission denied" in _as("warden-triage", "cat", str(data / "keys" / "secrets.json")).stderr
        assert "Permission denied" in _as("warden-planner", "ls", str(data / "audit")).stderr

        assert _owner(data / "keys" / "policy") == _owner(policy_key) == "warden-policy"
        assert _owner(data / "audit") == _owner(data / "anchors") == "warden-audit"

        lines: list[str] = []
        outcome = asyncio.run(autonomous_scenario(Layout(data), lines.append, SCENARIO_TIMEOUT_S))
        assert outcome.ok, "\n".join([*lines, outcome.detail])
        state = data / "services" / "policy" / "state" / "policy.db"
        assert _owner(state) == "warden-policy"
        assert [p for p in (data / "audit").rglob("*") if p.is_file()], "nothing audited"
    finally:
        output = stop_up(up)
    assert up.returncode == 0, output
    verify = subprocess.run(
        [str(python), "-m", "warden_cli", "audit", "verify", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
