"""A real service process, idle against a real NATS: every line it writes is a JSON object
without colour codes, FastStream's and nats-py's records included, and an idle pull is no ERROR."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from warden_testkit.bus import EmbeddedBroker

IDLE_S = 4.0  # several 1 s pull-fetch expiries of every subscriber


async def test_an_idle_service_writes_only_uncoloured_json_lines(broker: EmbeddedBroker, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("triage")),
        "WARDEN_DATA_DIR": str(tmp_path),
        "WARDEN_HTTP_PORT": "0",
        "WARDEN_WEBHOOK_TOKEN": "t" * 24,
        # Everything FastStream and nats-py say, per-message and task-supervisor records included.
        "WARDEN_LOG_LEVEL": "DEBUG",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "warden_triage", env=env, stdout=PIPE, stderr=PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while not any('"triage started"' in line for line in lines):
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, f"triage exited before it started: {lines[-20:]}"
            lines.append(line.decode().rstrip("\n"))
        await asyncio.sleep(IDLE_S)
    finally:
        process.send_signal(signal.SIGTERM)  # stopping ends FastStream's pull tasks: it logs that too
        out, err = await asyncio.wait_for(process.communicate(), 30)
    lines += err.decode().splitlines()
    assert process.returncode == 0, lines[-20:]
    assert out == b"", f"a logger wrote to stdout: {out[:500]!r}"
    assert any('"triage started"' in line for line in lines)
    records = []
    for line in lines:
        assert "\x1b[" not in line, line
        records.append(json.loads(line))  # a traceback or plain-text line fails here
    assert all(isinstance(r, dict) and {"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    errors = [r for r in records if r["level"] in {"ERROR", "CRITICAL"}]
    assert errors == [], errors
