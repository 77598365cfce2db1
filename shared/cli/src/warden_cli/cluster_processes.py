"""Processes of a cluster that outlive the command that started them, known by PID.

`warden cluster up` returns once everything is healthy; `down` and `status` run later, in other
processes, and only have what `cluster.json` recorded. A PID alone could by then name an
unrelated process (PIDs are reused), so each record also keeps the process's start time from
`/proc/<pid>/stat`, and nothing is signalled unless both match.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORDED = ("name", "kind", "service", "pid", "started", "port")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, not yet reaped by its parent
        return None
    return int(fields[19])


@dataclass
class Tracked:
    """One process of the cluster: a NATS node or one replica of a service."""

    name: str  # "nats-1", "policy-2"
    kind: str  # "node" | "service"
    service: str  # the service ("nats" for nodes)
    pid: int
    started: int  # start time (clock ticks), see `start_time`
    port: int
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, name: str, kind: str, service: str, popen: subprocess.Popen[bytes], port: int) -> Tracked:
        return cls(name, kind, service, popen.pid, start_time(popen.pid) or 0, port, popen)

    @property
    def alive(self) -> bool:
        if self.popen is not None:  # our own child: poll() also reaps it
            return self.popen.poll() is None
        return start_time(self.pid) == self.started

    def signal(self, sig: signal.Signals) -> bool:
        """Send `sig` if this is still the recorded process; False when it is gone."""
        if not self.alive:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
            return True
        return False

    def record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RECORDED}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Tracked:
        return cls(**{k: record[k] for k in RECORDED})


async def stop_all(processes: list[Tracked], deadline_s: float) -> dict[str, str]:
    """SIGTERM every live one at once, SIGKILL what is alive after `deadline_s`; name -> how it ended."""
    outcome = {p.name: ("terminated" if p.signal(signal.SIGTERM) else "not running") for p in processes}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while any(p.alive for p in processes) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for p in processes:
        if p.signal(signal.SIGKILL):
            outcome[p.name] = "killed after the deadline"
    kill_deadline = loop.time() + 5
    while any(p.alive for p in processes) and loop.time() < kill_deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for p in processes:
        if p.alive:
            outcome[p.name] = "still running"
    return outcome
