"""The Cosmos DB gateway double (`warden_testkit.cosmos`) as a fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from warden_testkit.cosmos import CosmosDouble, cosmos_double


@pytest.fixture
async def cosmos(tmp_path: Path) -> AsyncIterator[CosmosDouble]:
    async with cosmos_double(tmp_path) as double:
        yield double
