"""The Key Vault HTTPS double (`warden_security.keyvault_testing`) as a fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from warden_security.keyvault_testing import VaultDouble, serve_vault


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[VaultDouble]:
    async with serve_vault(tmp_path) as double:
        yield double
