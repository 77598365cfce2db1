"""The alert consumer in a process of its own, beside the webhook intake.

With the GIL one process runs one core: HTTP parsing and normalising a storm's webhooks competed
with incident tracking for it. Split, the intake (the process `warden up` starts, which serves the
webhooks, /healthz and /metrics) starts `python -m warden_triage.consumer` with the same
environment, and the two share nothing but the bus and a pipe:

- the consumer reports on the pipe, one JSON line at most every `REPORT_INTERVAL_S`: how many
  alerts it has handled since it started, and its counters. The intake feeds the first to its
  backlog (the webhook's back-pressure) and serves the second at /metrics beside its own;
- the intake's /healthz is green once the consumer has reported (its first report follows its
  start: store open, consuming); the intake restarts a consumer that exited, and stops it on the
  way out (SIGTERM, then SIGKILL);
- the consumer dies with the intake (`PR_SET_PDEATHSIG`): a kill -9 of triage leaves no consumer
  behind, whose unacknowledged batch is redelivered to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from warden_bus.runtime import Counters

from warden_triage.adapters.backlog import Backlog

log = logging.getLogger("warden.triage")

REPORT_INTERVAL_S = 0.1
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1


class ConsumerProcess:
    """The intake's side: runs the consumer until cancelled (a `ServiceRuntime` background loop)."""

    def __init__(self, backlog: Backlog, counters: Counters, *, module: str = "warden_triage.consumer") -> None:
        self.backlog = backlog
        self.counters = counters  # the consumer's counts, mirrored from its reports
        self._module = module
        self._proc: asyncio.subprocess.Process | None = None
        self._reported = False
        self.restarts = 0

    @property
    def ready(self) -> bool:
        """Running and started: its store is open and it consumes (it reports only from then on)."""
        return self._reported and self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def run(self) -> None:
        while True:
            proc, reports = await self._spawn()
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                await asyncio.shield(self._stop(proc))
                reports.cancel()
                raise
            await asyncio.wait([reports], timeout=1.0)  # its last report: what it handled at the end
            reports.cancel()
            self.restarts += 1
            log.error("the alert consumer process exited with %s; starting it again", code)
            await asyncio.sleep(RESTART_DELAY_S)

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self._module,
                "--report-fd",
                str(write_fd),
                "--parent-pid",
                str(os.getpid()),
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._proc, self._reported = proc, False
        return proc, asyncio.create_task(self._read_reports(read_fd))

    async def _read_reports(self, read_fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        handled = 0  # a new process counts from 0
        try:
            while line := await reader.readline():
                report = json.loads(line)
                total = int(report["handled"])
                if total > handled:
                    self.backlog.handled(total - handled)
                    handled = total
                self.counters.mirror(report["counters"])
                self._reported = True
        finally:
            transport.close()

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class Reporter:
    """The consumer's side: counts handled alerts, writes reports while they change."""

    def __init__(self, fd: int, on_parent_gone: Callable[[], None]) -> None:
        self._fd = fd
        self._counters = Counters()
        self._on_parent_gone = on_parent_gone
        self._handled = 0

    def watch(self, counters: Counters) -> None:
        """The counters to report (the consumer's runtime's)."""
        self._counters = counters

    def handled(self) -> None:
        self._handled += 1

    def loop(self) -> Callable[[], Awaitable[None]]:
        async def report() -> None:
            last: str | None = None
            while True:
                line = json.dumps({"handled": self._handled, "counters": self._counters.snapshot()})
                if line != last:
                    self._write(line)
                    last = line
                await asyncio.sleep(REPORT_INTERVAL_S)

        return report

    def _write(self, line: str) -> None:
        data = (line + "\n").encode()
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except BrokenPipeError:
            log.error("the triage intake process is gone; stopping")
            self._on_parent_gone()


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL when the intake dies (Linux), so no consumer outlives a killed triage."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # it died before the signal was armed
        raise SystemExit("the triage intake process is gone")
