"""Provisioning a cluster's streams waits for placement peers: a meta leader elected before every
node reported in refuses replicated streams ("no suitable peers for placement", CI saw it once),
which is retried; any other refusal is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import BadRequestError
from warden_bus import nats_cluster


def scripted(monkeypatch: pytest.MonkeyPatch, failures: list[BaseException]) -> list[int]:
    calls: list[int] = []

    async def provision(url: str, creds: Path, **kwargs: Any) -> None:
        calls.append(kwargs["replicas"])
        if failures:
            raise failures.pop(0)

    monkeypatch.setattr(nats_cluster, "provision", provision)
    return calls


def no_peers() -> BadRequestError:
    return BadRequestError(
        code=400, err_code=nats_cluster.NO_SUITABLE_PEERS, description="no suitable peers for placement"
    )


async def test_no_placement_peers_yet_is_retried_until_provisioned(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = scripted(monkeypatch, [no_peers(), no_peers()])
    await nats_cluster.provision_replicated("nats://127.0.0.1:1", Path("admin.creds"), 3)
    assert calls == [3, 3, 3]


async def test_no_placement_peers_past_the_wait_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(monkeypatch, [no_peers(), no_peers()])
    with pytest.raises(BadRequestError):
        await nats_cluster.provision_replicated("nats://127.0.0.1:1", Path("admin.creds"), 3, placement_wait_s=-1)


async def test_another_refusal_is_raised_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = scripted(monkeypatch, [BadRequestError(code=400, err_code=10052, description="invalid config")])
    with pytest.raises(BadRequestError):
        await nats_cluster.provision_replicated("nats://127.0.0.1:1", Path("admin.creds"), 3)
    assert calls == [3]
