"""A service on the embedded defaults (SQLite, local files and keys, NATS, the runbook planner)
starts without loading a cloud SDK or a driver it will not use: each is imported by the branch of
the composition root that chooses it. Measured by `warden bench cli` (service start rows)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Neither the Azure SDKs (and msal under azure-identity), psycopg, nor the OpenAI client.
HEAVY = ("azure", "msal", "psycopg", "psycopg_pool", "openai")
SERVICES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "services").iterdir() if p.is_dir())


@pytest.mark.parametrize("service", SERVICES)
def test_the_default_composition_root_imports_no_unused_sdk(service: str) -> None:
    probe = f"import json, sys, warden_{service}.app; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert loaded & set(HEAVY) == set()


def test_each_backend_still_finds_its_sdk_when_chosen() -> None:
    probe = (
        "import warden_persistence, sys\n"
        "assert 'psycopg' not in sys.modules\n"
        "from warden_persistence import PostgresDatabase\n"
        "assert PostgresDatabase.__module__ == 'warden_persistence.postgres' and 'psycopg' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
