"""docker-compose.yml: `docker compose config` where the compose plugin exists and `docker-compose
config` where Debian's docker-compose 1.29 is installed (`apt-get install docker-compose`; where
neither is, the test says so by skipping), and structural checks with PyYAML everywhere; plus the
bootstrap it relies on (`warden compose init`) against a real nats-server: the generated config
starts, provisioning works, and a service identity publishes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from warden_bus.embedded_server import free_port, nats_server_binary
from warden_bus.nats_bus import NatsBus
from warden_bus.provision import provision_when_ready
from warden_cli.compose_commands import write_stack_config
from warden_cli.layout import Layout
from warden_contracts import topology as topo
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
EXTRAS = {"console", "otel-collector", "azurite"}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _compose_plugin() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    found = subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    return [docker, "compose"] if found else None


def _compose_v1() -> list[str] | None:
    command = shutil.which("docker-compose")
    return [command] if command else None


@pytest.mark.parametrize(
    "compose",
    [
        pytest.param(
            _compose_plugin(), id="plugin", marks=pytest.mark.skipif(not _compose_plugin(), reason="no plugin")
        ),
        pytest.param(_compose_v1(), id="v1", marks=pytest.mark.skipif(not _compose_v1(), reason="no docker-compose")),
    ],
)
def test_docker_compose_config_accepts_the_file(compose: list[str]) -> None:
    result = subprocess.run(
        [
            *compose,
            "-f",
            str(COMPOSE),
            "--profile",
            "console",
            "--profile",
            "telemetry",
            "--profile",
            "azurite",
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no secrets in the environment: init writes them as files
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_service_runs_as_its_own_identity() -> None:
    services = _compose()["services"]
    identity_of = {name: name for name in topo.SERVICES} | {"console": "approver"}
    for name, identity in identity_of.items():
        assert name in services, f"{name} missing from docker-compose.yml"
        env = services[name]["environment"]
        assert env["WARDEN_NATS_CREDS"] == f"/data/keys/{name}/{identity}.creds"  # its own key folder
        assert services[name]["build"]["args"]["SERVICE"] == name


def test_dependencies_profiles_ports_and_images() -> None:
    doc = _compose()
    services = doc["services"]
    built = {spec["image"] for spec in services.values() if "build" in spec}
    for name, spec in services.items():
        for dependency in spec.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        assert (name in EXTRAS) == bool(spec.get("profiles")), f"{name}: only the extras sit behind profiles"
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        image = spec.get("image", "")
        assert image in built or (":" in image and not image.endswith(":latest")), f"{name}: pin the image"
        if "build" in spec:
            service = spec["build"]["args"]["SERVICE"]
            assert (ROOT / "services" / service).is_dir() or (ROOT / "shared" / service).is_dir()
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in doc["volumes"], f"{name}: undeclared volume {source}"
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_every_path_compose_names_is_one_init_writes(tmp_path: Path) -> None:
    """Each /data/keys/... path in docker-compose.yml exists after `warden compose init` (run here on
    a temporary folder standing in for the volume), and holds only owner-readable material."""
    write_stack_config(tmp_path, listen="127.0.0.1", port=free_port())
    used = {
        value
        for spec in _compose()["services"].values()
        for value in (spec.get("environment") or {}).values()
        if isinstance(value, str) and value.startswith("/data/keys/")
    }
    assert len(used) > 20, used
    for value in used:
        path = tmp_path / Path(value).relative_to("/data")
        assert path.exists(), f"{value} is not written by compose init"
        assert path.stat().st_mode & 0o077 == 0, f"{value} is readable beyond its owner"
    token = (tmp_path / "keys" / "triage" / "webhook-token").read_text()
    assert token == Layout(tmp_path).secrets()["webhook_token"]
    assert (tmp_path / "keys" / "sandbox" / "alert-webhook-token").read_text() == token


async def test_compose_bootstrap_starts_a_real_server_and_a_service_publishes(tmp_path: Path) -> None:
    port = free_port()
    config = write_stack_config(tmp_path, listen="127.0.0.1", port=port)
    layout = Layout(tmp_path)
    assert layout.policy_signing_key.exists() and layout.creds("executor").exists()
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        await provision_when_ready(url, layout.creds("admin"), timeout_s=30)
        operator = NatsBus("operator", url, layout.creds("operator"))
        await operator.start()
        try:
            change = ControlChanged(kind=ControlKind.KILL_SWITCH, value="on", changed_by="compose-test")
            await operator.publish(
                envelope_for("sre.control.changed.v1", change, source="warden/cli", correlationid="c")
            )
        finally:
            await operator.stop()
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
