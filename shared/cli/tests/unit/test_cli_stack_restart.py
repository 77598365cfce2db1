"""`EmbeddedStack.restart` starts only what is dead: a live process is never started twice (two
consumers on one data folder), and a name the stack never started is an error, not a new process.
The restart itself is exercised on a real stack by tests/integration/test_fault_storm_restarts.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from warden_cli.launcher import EmbeddedStack, Process, StackFailed
from warden_cli.layout import Layout


@pytest.fixture
def running_child() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


async def test_a_live_process_is_not_started_again(tmp_path: Path, running_child: subprocess.Popen[bytes]) -> None:
    stack = EmbeddedStack(Layout(tmp_path))
    stack.processes["policy"] = Process("policy", 0, running_child)
    with pytest.raises(StackFailed, match=rf"policy \(pid {running_child.pid}\) is still running"):
        await stack.restart("policy")
    assert stack.processes["policy"].popen is running_child
    assert running_child.poll() is None


async def test_a_process_the_stack_never_started_is_refused(tmp_path: Path) -> None:
    stack = EmbeddedStack(Layout(tmp_path))
    with pytest.raises(KeyError, match="no process 'nats' in this stack"):
        await stack.restart("nats")
