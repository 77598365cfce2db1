"""Supervision of the embedded stack's processes: one stack per data folder, bounded stops, and
a watch that notices when NATS or any child dies.

An operator who `kill -9`s the broker, or a service that crashes, must not leave a stack that
looks up but does nothing; and a shutdown must end, whatever state the children are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger("warden.launcher")
POLL_S = 0.2


class StackLocked(RuntimeError):
    """Another `warden up` holds the data folder."""


@dataclass
class StackLock:
    """An advisory lock (`flock`) on `<data>/stack.lock`, holding the owner's pid.

    The kernel drops the lock when the holder dies, even by SIGKILL, so a stale file never blocks
    the next start; the pid inside is only there to tell the operator who holds it.
    """

    path: Path
    _fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise StackLocked(
                f"another `warden up` (pid {holder}) is running on {self.path.parent}; stop it first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None


def alive(popen: subprocess.Popen[bytes]) -> bool:
    return popen.poll() is None


async def stop_processes(processes: Mapping[str, subprocess.Popen[bytes]], deadline_s: float) -> dict[str, int]:
    """SIGTERM every live process at once, SIGKILL what is still alive after `deadline_s`.

    Returns each process's exit code. Bounded by about `deadline_s` plus the reaping of killed
    processes, which the kernel does at once.
    """
    for popen in processes.values():
        if alive(popen):
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    # Polling `poll()` needs no thread per child (the default executor has only a few on 2 cores).
    while any(alive(p) for p in processes.values()) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for popen in processes.values():
        if alive(popen):
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
    codes: dict[str, int] = {}
    for name, popen in processes.items():
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(popen.wait, 5)
        codes[name] = popen.returncode if popen.returncode is not None else -signal.SIGKILL
    return codes


def first_dead(processes: Mapping[str, subprocess.Popen[bytes]]) -> list[str]:
    return [name for name, popen in processes.items() if not alive(popen)]


async def watch(processes: Mapping[str, subprocess.Popen[bytes]], stop: asyncio.Event) -> list[str]:
    """Wait until `stop` is set (returns []) or a watched process exits (returns the dead ones)."""
    while not stop.is_set():
        dead = first_dead(processes)
        if dead:
            return dead
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_S)
    return []
