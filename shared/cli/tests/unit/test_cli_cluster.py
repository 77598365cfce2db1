"""The pieces of `warden cluster` that need no cluster: the replica table, node configs, PID records."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from warden_bus.embedded_auth import ensure_auth_material
from warden_bus.nats_cluster import NatsCluster
from warden_bus.settings import nats_servers
from warden_cli.cluster_processes import Tracked, start_time
from warden_cli.cluster_replicas import PLANS, plan, with_schema
from warden_cli.launcher import CHILDREN


def test_every_child_has_a_plan_and_a_single_replica_says_why() -> None:
    assert set(PLANS) == set(CHILDREN)
    for service, p in PLANS.items():
        assert p.replicable == (not p.single_because)
        assert p.replicas(3) == (3 if p.replicable else 1), service
        if p.replicable:
            assert p.stores, f"{service} is replicated without a shared store"


def test_store_urls_carry_their_schema_and_the_replica_id() -> None:
    env = plan("executor").env("postgresql://postgres@127.0.0.1:5432/warden_cluster_x", "executor-2")
    assert env == {
        "WARDEN_EXECUTOR_STORE_URL": "postgresql://postgres@127.0.0.1:5432/warden_cluster_x?schema=executor",
        "WARDEN_EXECUTOR_REPLICA_ID": "executor-2",
    }
    assert (
        with_schema("postgresql://h/db?connect_timeout=3", "triage")
        == "postgresql://h/db?connect_timeout=3&schema=triage"
    )
    assert plan("audit").env("postgresql://h/db", "audit-1") == {}
    assert plan("policy").env("postgresql://h/db", "policy-2") == {
        "WARDEN_POLICY_STORE_URL": "postgresql://h/db?schema=policy",
        "WARDEN_POLICY_REPLICA_ID": "policy-2",
    }


def test_each_node_routes_to_the_other_two_with_the_embedded_config(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "nats", ensure_auth_material(tmp_path / "auth"), tmp_path / "logs")
    cluster.plan()
    assert len({n.port for n in cluster.nodes} | {n.cluster_port for n in cluster.nodes}) == 6
    for node in cluster.nodes:
        conf = node.config(cluster.material, cluster.nodes)
        assert f"server_name: {node.name}" in conf and "sync_interval: always" in conf
        assert f"listen: 127.0.0.1:{node.cluster_port}" in conf
        others = [n for n in cluster.nodes if n is not node]
        assert all(f"nats-route://127.0.0.1:{o.cluster_port}" in conf for o in others)
        assert f"nats-route://127.0.0.1:{node.cluster_port}" not in conf
    assert nats_servers(cluster.url) == cluster.urls


def test_a_recorded_pid_with_another_start_time_is_never_signalled() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        real = Tracked.from_record(Tracked.of("x-1", "service", "x", child, 0).record())
        assert real.alive and real.started == start_time(child.pid)
        reused = Tracked("x-1", "service", "x", child.pid, real.started + 1, 0)
        assert not reused.alive
        assert not reused.signal(signal.SIGTERM)
        assert child.poll() is None
        assert real.signal(signal.SIGTERM)
        child.wait(10)
        assert not real.alive
    finally:
        child.kill()
        child.wait(10)
