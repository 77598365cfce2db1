"""`warden fault inject|clear` against a real sandbox process: the admin secret comes from the data
directory, the fault shows in the sandbox's own view, a refused fault is one line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner
from warden_cli.layout import Layout
from warden_cli.main import app


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Layout]:
    """A data directory whose stack.json names a running sandbox that trusts its admin secret."""
    layout = Layout(tmp_path / "data")
    layout.root.mkdir()
    secret = layout.secrets()["sandbox_admin_secret"]
    env = {
        **os.environ,
        "WARDEN_DATA_DIR": str(tmp_path / "sandbox"),
        "WARDEN_SANDBOX_PORT": "0",
        "WARDEN_SANDBOX_ADMIN_SECRET": secret,
        "WARDEN_SANDBOX_TICK_S": "0.2",
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "warden_sandbox", env=env, stderr=PIPE)
    assert process.stderr is not None
    try:
        port = None
        while port is None:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, "the sandbox exited before it listened"
            record = json.loads(line)
            port = record.get("port") if record.get("msg") == "sandbox listening" else None
        layout.write_stack({"sandbox_url": f"http://127.0.0.1:{port}"})
        yield layout
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def _get(layout: Layout, path: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{layout.read_stack()['sandbox_url']}{path}") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


def _warden(*args: str) -> tuple[int, str, str]:
    # The commands call asyncio.run themselves: run them off this test's event loop.
    result = CliRunner().invoke(app, list(args), prog_name="warden")
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


async def test_inject_then_clear_a_fault_in_a_running_sandbox(sandbox: Layout) -> None:
    data = str(sandbox.root)
    code, out, err = await asyncio.to_thread(
        _warden, "fault", "inject", "bad_deploy", "--service", "payments-api", "--param", "version=v9.9.9",
        "--json", "--data-dir", data,
    )  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["service"] == "payments-api" and answer["kind"] == "bad_deploy"
    assert answer["params"]["version"] == "v9.9.9"
    # Faults are the answer key and absent from the sandbox's views; their symptoms are not.
    assert (await _get(sandbox, "/v1/services/payments-api"))["version"] == "v9.9.9"

    code, out, err = await asyncio.to_thread(
        _warden, "fault", "inject", "memory_leak", "--service", "payments-api", "--log-text", "heap grows",
        "--data-dir", data,
    )  # fmt: skip
    assert (code, out.strip()) == (0, "fault memory_leak injected into payments-api"), err

    code, out, err = await asyncio.to_thread(_warden, "fault", "clear", "--service", "payments-api", "--data-dir", data)
    assert code == 0, err
    assert out.strip() == "cleared bad_deploy, memory_leak on payments-api"
    lines = (await _get(sandbox, "/v1/services/payments-api/logs?limit=1000"))["lines"]
    assert any("heap grows" in line for line in lines)
    assert any("faults cleared: bad_deploy, memory_leak" in line for line in lines)
    code, out, _ = await asyncio.to_thread(_warden, "fault", "clear", "--service", "payments-api", "--data-dir", data)
    assert (code, out.strip()) == (0, "no faults on payments-api")


async def test_a_fault_the_sandbox_refuses_is_one_line(sandbox: Layout) -> None:
    data = str(sandbox.root)
    code, out, err = await asyncio.to_thread(
        _warden, "fault", "inject", "memory_leak", "--service", "no-such-service", "--data-dir", data
    )
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert "sandbox refused (404)" in err and "no-such-service" in err

    code, _, err = await asyncio.to_thread(
        _warden, "fault", "inject", "bad_deploy", "--service", "payments-api", "--param", "version", "--data-dir", data
    )
    assert code == 1
    assert err.strip() == "warden fault inject: --param 'version': expected key=value, e.g. --param version=v2.4.1"


async def test_a_wrong_admin_secret_is_refused(sandbox: Layout) -> None:
    secrets = json.loads(sandbox.secrets_file.read_text())
    sandbox.secrets_file.write_text(json.dumps({**secrets, "sandbox_admin_secret": "wrong"}))
    code, _, err = await asyncio.to_thread(
        _warden, "fault", "clear", "--service", "payments-api", "--data-dir", str(sandbox.root)
    )
    assert code == 1
    assert err.strip() == "warden fault clear: sandbox refused (403): admin secret missing or wrong"
