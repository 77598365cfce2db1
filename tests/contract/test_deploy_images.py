"""deploy/Dockerfile installs, per service, exactly what `uv export --package warden-<service>`
lists from the lock file; these are those lists: no image carries another service, and the
planner's (the LLM's) image carries no write-capable Azure management SDK."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from warden_contracts import topology as topo

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
UV = shutil.which("uv")
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not on PATH")


@cache
def requirements(service: str) -> list[str]:
    assert UV
    result = subprocess.run(
        [UV, "export", "--frozen", "--no-dev", "--no-editable", "--no-hashes", "--package", f"warden-{service}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split(" ")[0] for line in result.stdout.splitlines() if line and not line.startswith(("#", " "))]


def test_the_dockerfile_installs_the_exported_list_for_one_package() -> None:
    assert 'uv export --frozen --no-dev --no-editable --package "warden-${SERVICE}"' in DOCKERFILE
    assert "uv pip install --no-cache --compile-bytecode -r /tmp/requirements.txt" in DOCKERFILE


@pytest.mark.parametrize("service", topo.SERVICES)
def test_an_image_carries_no_other_service(service: str) -> None:
    local = {r for r in requirements(service) if r.startswith("./services/")}
    assert local == {f"./services/{service}"}


def test_the_planner_image_has_no_write_capable_azure_sdk() -> None:
    planner = requirements("planner")
    assert not [r for r in planner if r.startswith("azure-mgmt")], planner
    assert any(r.startswith("azure-mgmt-authorization") for r in requirements("executor"))


def _compose_services() -> list[str]:
    import yaml

    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return sorted({s["build"]["args"]["SERVICE"] for s in doc["services"].values() if "build" in s})


@pytest.mark.parametrize("service", _compose_services())
def test_every_image_docker_compose_builds_resolves_from_the_lock(service: str) -> None:
    assert any(r.startswith(("./services/", "./shared/")) for r in requirements(service))


@pytest.mark.parametrize("service", sorted({*topo.SERVICES, *_compose_services()}))
def test_no_image_installs_a_dev_only_distribution(service: str) -> None:
    """Test doubles, benchmarks and the eval harness live under tools/ and stay out of every image."""
    dev_only = [r for r in requirements(service) if r.startswith("./tools/") or r.startswith("warden-testkit")]
    assert dev_only == []
    assert "COPY tools" not in DOCKERFILE
