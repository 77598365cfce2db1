"""The executor on the real embedded pieces (NATS, the elevation service, the sandbox):

- the incident timeline reads doorbell -> elevation (with its expiry) -> action started ->
  verified -> deactivation, rendered from the recorded messages of a real run;
- `python -m warden_executor --drain-once` drains and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_cli.timeline import incidents_from, render
from warden_contracts.envelope import envelope_for
from warden_elevation.app import Settings as ElevationSettings
from warden_elevation.app import create_app as create_elevation
from warden_executor.app import Settings, create_app
from warden_sandbox.app import SandboxApp
from warden_sandbox.app import create_app as create_sandbox
from warden_security.action_signing import LocalSigner, approval_proof, sign_action
from warden_security.keys import load_or_create_private_key, public_path, public_pem
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.contracts import incident_payload
from warden_testkit.releases import release

INCIDENT = "inc-timeline-1"


@asynccontextmanager
async def elevated_sandbox(
    broker: EmbeddedBroker, tmp_path: Path, service: str
) -> AsyncIterator[tuple[SandboxApp, Ed25519PrivateKey]]:
    """The elevation service and a one-service sandbox that trusts its tokens, plus the policy key
    the executor and the elevation service are told to trust (tmp_path/policy.pub.pem)."""
    assert broker.server.auth
    key_path = tmp_path / "elevation.pem"
    load_or_create_private_key(key_path)
    policy_key = Ed25519PrivateKey.generate()
    (tmp_path / "policy.pub.pem").write_bytes(public_pem(policy_key.public_key()))
    authority = create_elevation(
        ElevationSettings(
            nats_url=broker.url,
            nats_creds=broker.creds("elevation"),
            data_dir=tmp_path / "elevation",
            policy_pubkey=tmp_path / "policy.pub.pem",
            elevation_key=key_path,
            nats_account_dir=broker.server.auth.root,
        )
    )
    await authority.start()
    try:
        estate = tmp_path / "estate.yaml"
        estate.write_text(
            yaml.safe_dump(
                {
                    "subscription_id": "00000000-0000-0000-0000-000000000000",
                    "services": [{"name": service, "environment": "dev", "resource_group": "rg", "version": "v1"}],
                }
            )
        )
        sandbox = create_sandbox(
            data_dir=tmp_path / "sandbox",
            sandbox_port=0,
            sandbox_tick_s=3600,
            sandbox_token_pubkey=public_path(key_path),
            sandbox_estate=estate,
        )
        await sandbox.start()
        try:
            yield sandbox, policy_key
        finally:
            await sandbox.stop()
    finally:
        await authority.stop()


async def test_autonomous_action_timeline_reads_doorbell_elevation_action_verification_deactivation(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with elevated_sandbox(broker, tmp_path, "checkout-api") as (sandbox, policy_key):
        sandbox.world.inject_fault("checkout-api", "memory_leak", {}, now=datetime.now(UTC))
        sandbox.world.get("checkout-api").memory_pct = 93.0
        executor = create_app(
            Settings(
                nats_url=broker.url,
                nats_creds=broker.creds("executor"),
                data_dir=tmp_path / "executor",
                sandbox_url=f"http://127.0.0.1:{sandbox.port}",
                policy_pubkey=tmp_path / "policy.pub.pem",
            )
        )
        policy = broker.bus("policy")
        await executor.start()
        await policy.start()
        try:
            action = sign_action(
                LocalSigner(policy_key),
                action_id="act-timeline-1",
                incident_id=INCIDENT,
                kind="restart_service",
                target="checkout-api",
                params={},
                tier=1,
                environment="dev",
                not_after=datetime.now(UTC) + timedelta(minutes=10),
            )
            for envelope in release(policy_key, action).in_order:
                await policy.publish(envelope)
            assert await broker.wait_for("sre.action.reported.v1", lambda e: e.data["status"] == "verified", timeout=60)
            released = await broker.wait_for(
                "sre.elevation.changed.v1", lambda e: e.data["state"] == "deactivated", timeout=60
            )
            assert released
            recorded = [
                *await broker.read_all("sre.elevation.changed.v1"),
                *await broker.read_all("sre.action.reported.v1"),
            ]
        finally:
            await policy.stop()
            await executor.stop()

    opened = envelope_for(
        "sre.incident.changed.v1",
        incident_payload(
            INCIDENT,
            incident_class="memory_leak",
            title="High memory on checkout-api",
            service="checkout-api",
            resource_id="/sandbox/checkout-api",
            fingerprint="fp-1",
        ),
        source="warden/triage",
        correlationid=INCIDENT,
    )
    ordered = [opened, *sorted(recorded, key=lambda e: e.time)]
    records = [
        {"seq": i, "type": e.type, "correlationid": e.correlationid, "envelope": e.model_dump(mode="json")}
        for i, e in enumerate(ordered, 1)
    ]
    text = render(incidents_from(records)[INCIDENT])
    lines = [line for line in text.splitlines() if "elevation" in line or "executor" in line]
    assert "ACTIVATED for executor" in lines[0] and "expires " in lines[0]
    assert f"(doorbell incident {INCIDENT} action act-timeline-1)" in lines[0]
    assert "STARTED" in lines[1] and "VERIFIED verified: memory_pct <= 75" in lines[2]
    assert "DEACTIVATED for executor (released before its expiry at" in lines[3]


async def test_drain_once_process_drains_and_exits_zero(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """`python -m warden_executor --drain-once` (Container Apps jobs / KEDA): no doorbell needed;
    it elevates, runs what is queued, releases and exits 0 once the queue is empty."""
    async with elevated_sandbox(broker, tmp_path, "orders-api") as (sandbox, policy_key):
        policy = broker.bus("policy")
        await policy.start()
        try:
            action = sign_action(
                LocalSigner(policy_key),
                action_id="act-drain-once-1",
                incident_id="inc-drain-once",
                kind="scale_service",
                target="orders-api",
                params={"replicas": 3},
                tier=1,
                environment="dev",
                approvals=[approval_proof("alice", "token-of-alice")],
                not_after=datetime.now(UTC) + timedelta(minutes=10),
            )
            released = release(policy_key, action)
            # No doorbell: --drain-once must find the approved action without one.
            await policy.publish(released.ticketed)
            await policy.publish(released.approved)
            env = {
                **os.environ,
                "WARDEN_NATS_URL": broker.url,
                "WARDEN_NATS_CREDS": str(broker.creds("executor")),
                "WARDEN_DATA_DIR": str(tmp_path / "executor"),
                "WARDEN_SANDBOX_URL": f"http://127.0.0.1:{sandbox.port}",
                "WARDEN_POLICY_PUBKEY": str(tmp_path / "policy.pub.pem"),
            }
            job = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "warden_executor", "--drain-once", env=env, stderr=subprocess.PIPE
            )
            _, stderr = await asyncio.wait_for(job.communicate(), 120)
            assert job.returncode == 0, stderr.decode()[-2000:]
            assert sandbox.world.get("orders-api").replicas == 3
            [verified] = await broker.wait_for("sre.action.reported.v1", lambda e: e.data["status"] == "verified")
            assert verified.data["action_id"] == "act-drain-once-1"
            states = [e.data["state"] for e in await broker.read_all("sre.elevation.changed.v1")]
            assert states[:2] == ["activated", "deactivated"]
        finally:
            await policy.stop()
