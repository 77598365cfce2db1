"""Azurite (the Azure Storage emulator, pinned in tools/azurite) on a free 127.0.0.1 port, per test."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from warden_bus.embedded_server import free_port

AZURITE = Path(__file__).resolve().parents[4] / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account (public, emulator-only).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="module")
def azurite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Azurite cannot run")
    assert AZURITE.exists(), f"{AZURITE} missing: run `npm ci` in tools/azurite"
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    log = (workdir / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
        ],
        cwd=workdir,  # anything Azurite writes stays out of the checkout
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):  # up to 60 s on a loaded machine
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, (workdir / "azurite.log").read_text()
                time.sleep(0.1)
        else:
            raise AssertionError("Azurite did not start")
        yield f"http://127.0.0.1:{port}/{DEV_ACCOUNT}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def connection_string(url: str) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint={url};"


@pytest.fixture
async def container_name(azurite_url: str) -> AsyncIterator[str]:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient.from_connection_string(connection_string(azurite_url)) as service:
        await service.create_container(name)
        yield name
        await asyncio.shield(service.delete_container(name))


@pytest.fixture
def container_factory(azurite_url: str, container_name: str) -> Callable[[], ContainerClient]:
    """A new client per call: separate writers must not share connection state."""

    def make() -> ContainerClient:
        return ContainerClient.from_connection_string(connection_string(azurite_url), container_name)

    return make
