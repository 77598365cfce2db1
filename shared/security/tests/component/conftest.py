"""The Key Vault HTTPS double (`warden_testkit.keyvault`) as a fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from warden_testkit.keyvault import VaultDouble, serve_vault


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultDouble]:
    with serve_vault(tmp_path) as double:
        yield double
