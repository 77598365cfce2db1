"""An HTTP session on the sandbox under test; each test module defines its own `app` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from warden_sandbox.app import SandboxApp


@pytest.fixture
async def http(app: SandboxApp) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{app.port}") as session:
        yield session
