"""`warden up` as a user runs it: a separate process, alerts sent with `warden ingest`, incidents
read back with `warden incidents`, and a clean shutdown of every process on SIGTERM."""

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
FIXTURE = Path(__file__).resolve().parents[2] / "services/triage/tests/fixtures/azure_metric_fired.json"


def _warden(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warden_cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _poll(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_up_ingest_incidents_and_clean_shutdown(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    up = subprocess.Popen(
        [sys.executable, "-m", "warden_cli", "up", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        stack = _poll(
            lambda: (data / "stack.json").exists() and json.loads((data / "stack.json").read_text()),
            90,
            "the stack to come up",
        )
        sent = _warden("ingest", str(FIXTURE), data_dir=data)
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["message_id"]

        listing = _poll(
            lambda: "memory_pressure" in (out := _warden("incidents", data_dir=data).stdout) and out,
            60,
            "the ingested alert to become an incident",
        )
        assert "checkout" in listing

        refused = _warden("approve", "no-such-approval", "--as", "alice", data_dir=data)
        assert refused.returncode == 1 and "no approval request" in refused.stderr
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "Warden is up" in output and "webhook" in output
    assert not any(_alive(pid) for pid in stack["pids"].values())
    assert not (data / "stack.json").exists()
    verify = _warden("audit", "verify", data_dir=data)
    assert verify.returncode == 0 and "audit log OK" in verify.stdout
