"""`warden up` under faults, checked from outside by PID: a failed start-up leaves nothing behind,
a second stack on the same data folder is refused, a dead child stops the stack with a non-zero
exit, and a SIGTERM shutdown ends within its deadline even when a child ignores SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
STOP_TIMEOUT_S = 2.0


def _up(data: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "warden_cli", "up",
            "--data-dir", str(data), "--stop-timeout", str(STOP_TIMEOUT_S), *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs nothing and holds no port.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _started_under(data: Path) -> set[int]:
    """PIDs of processes the stack started: services run with the data folder as their working
    directory, nats-server with its config file inside it."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == str(data) or f"{data}/nats-server.conf" in cmdline:
            found.add(int(entry.name))
    return found


def _wait_stack(data: Path, up: subprocess.Popen[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise AssertionError(f"warden up exited early:\n{up.stdout.read() if up.stdout else ''}")
        if (data / "stack.json").exists():
            return json.loads((data / "stack.json").read_text())
        time.sleep(0.25)
    raise AssertionError("the stack did not come up")


def test_failed_start_up_stops_everything_it_started(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    up = _up(data, "--health-timeout", "0.3")
    seen: set[int] = set()
    while up.poll() is None:  # collect what the launcher starts before it gives up
        seen |= _started_under(data)
        time.sleep(0.05)
    output = up.stdout.read() if up.stdout else ""
    assert up.returncode == 1, output
    assert "not healthy after" in output
    assert seen, "the launcher started nothing, so the test proved nothing"
    assert not [pid for pid in seen | _started_under(data) if _alive(pid)]
    assert not (data / "stack.json").exists()


def test_second_up_refused_and_sigterm_bounded_with_a_stuck_child(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    up = _up(data)
    try:
        stack = _wait_stack(data, up)
        second = subprocess.run(
            [sys.executable, "-m", "warden_cli", "up", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"another `warden up` (pid {up.pid})" in second.stderr
        assert all(_alive(pid) for pid in stack["pids"].values()), "the refused start touched the running stack"

        # A stopped process cannot act on SIGTERM: only the SIGKILL after the deadline ends it.
        os.kill(stack["pids"]["planner"], signal.SIGSTOP)
        started = time.monotonic()
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, output
    # children, then NATS, each bounded by the stop timeout (plus reaping and interpreter exit)
    assert took < 3 * STOP_TIMEOUT_S + 10, f"shutdown took {took:.1f}s"
    assert not [pid for pid in stack["pids"].values() if _alive(pid)]
    assert not [pid for pid in _started_under(data) if _alive(pid)]


def test_a_dead_child_stops_the_stack_with_a_non_zero_exit(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    up = _up(data)
    try:
        stack = _wait_stack(data, up)
        os.kill(stack["pids"]["policy"], signal.SIGKILL)
        output, _ = up.communicate(timeout=3 * STOP_TIMEOUT_S + 30)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 1, output
    assert "policy (exit -9)" in output
    assert not [pid for pid in stack["pids"].values() if _alive(pid)]
    assert not [pid for pid in _started_under(data) if _alive(pid)]
    # The lock died with the launcher: the next start on this folder is not refused.
    assert not (data / "stack.json").exists()
