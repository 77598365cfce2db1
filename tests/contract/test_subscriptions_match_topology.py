"""Each service's composition root subscribes to exactly the topics the topology table gives it.

The broker would refuse a subscription the table does not grant (permissions are derived from it),
but only at run time; a forgotten one would just never deliver. This builds every service's real
`create_app` on a recording bus and compares the two lists.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from warden_contracts import topology as topo
from warden_security.keys import load_or_create_private_key, public_path
from warden_testkit.recording import RecordingBus


def _key(root: Path, name: str) -> Path:
    path = root / "keys" / f"{name}.pem"
    load_or_create_private_key(path)
    return path


def _settings(service: str, root: Path) -> dict[str, Any]:
    common: dict[str, Any] = {"data_dir": root / service, "nats_url": "nats://127.0.0.1:9", "nats_creds": root / "x"}
    extra: dict[str, dict[str, Any]] = {
        "triage": {"webhook_token": "t"},
        "planner": {"sandbox_url": "http://127.0.0.1:9"},
        "policy": {"signing_key": _key(root, "policy"), "approver_issuer_pubkey": public_path(_key(root, "issuer"))},
        "executor": {"sandbox_url": "http://127.0.0.1:9", "policy_pubkey": public_path(_key(root, "policy"))},
        "audit": {"audit_dir": root / "audit"},
    }
    return common | extra.get(service, {})


@pytest.mark.parametrize("service", topo.SERVICES)
def test_the_composition_root_subscribes_to_what_the_topology_says(service: str, tmp_path: Path) -> None:
    app = importlib.import_module(f"warden_{service}.app")
    bus = RecordingBus(service)
    ports = getattr(app, f"{service.capitalize()}Ports")  # TriagePorts, PlannerPorts, ...
    app.create_app(app.Settings(**_settings(service, tmp_path)), ports=ports(bus=bus))
    assert len(bus.subscriptions) == len(set(bus.subscriptions)), "a topic subscribed twice"
    assert sorted(bus.subscriptions) == sorted(t.name for t in topo.consumed_by(service))
    # Elevated topics are drained only under a time-boxed identity, never subscribed standing.
    assert not set(bus.subscriptions) & {t.name for t in topo.elevated_for(service)}


def test_every_service_consumes_something() -> None:
    assert all(topo.consumed_by(service) for service in topo.SERVICES)
