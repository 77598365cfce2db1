"""`warden bench executor`: approval-to-execution latency on the embedded stack.

One throwaway embedded stack in a temporary directory: the NATS server in operator mode, the
elevation authority, the sandbox (ticks off, so only actions change it) and the executor with its
SQLite ledger. Each round publishes one signed `restart_service` plus its doorbell, like policy
does, and times from the approved message's publication to

- `started`  : the executor's `started` report (signature, ledger, kill switch, preflight, elevation)
- `acted`    : the sandbox applying the restart (the write itself)
- `verified` : the `verified` report (verification evidence published)

Baseline in the same run and on the same server: a bare JetStream publish -> push-consume of one
message. Ratios are against that baseline's p50. The first `WARMUP` actions (connection set-up,
SQLite and HTTP pools) are run but not counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import nats
import typer
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import StreamConfig
from warden_bus.permissions import inbox_prefix
from warden_contracts.envelope import Envelope
from warden_elevation.app import Settings as ElevationSettings
from warden_elevation.app import create_app as create_elevation
from warden_executor.app import Settings as ExecutorSettings
from warden_executor.app import create_app as create_executor
from warden_sandbox.app import SandboxApp
from warden_sandbox.app import create_app as create_sandbox
from warden_security.keys import load_or_create_private_key, public_path, public_pem
from warden_testkit.bus import EmbeddedBroker, embedded_broker
from warden_testkit.releases import approved_tier1, release

from warden_bench.stats import percentile

REPORTED, APPROVED, PENDING = "sre.action.reported.v1", "sre.action.approved.v1", "sre.action.pending.v1"
TICKETED = "sre.elevation.ticketed.v1"
BASELINE_SUBJECT = "bench.baseline"
WARMUP = 2


@dataclass
class Samples:
    started: list[float] = field(default_factory=list)
    acted: list[float] = field(default_factory=list)
    verified: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)


def _estate(path: Path, names: list[str]) -> Path:
    services = [
        {"name": n, "environment": "dev", "resource_group": "rg-bench", "version": "v1.0.0", "replicas": 2}
        for n in names
    ]
    path.write_text(yaml.safe_dump({"subscription_id": "00000000-0000-0000-0000-000000000000", "services": services}))
    return path


async def _baseline(broker: EmbeddedBroker, rounds: int) -> list[float]:
    """Bare JetStream publish -> push consume, one message at a time (admin, scratch stream)."""
    nc = await broker.connect("admin")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH", subjects=[BASELINE_SUBJECT]))
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def on_msg(msg: Any) -> None:
            await msg.ack()
            arrived.put_nowait(time.perf_counter())

        sub = await js.subscribe(BASELINE_SUBJECT, cb=on_msg, manual_ack=True)
        samples = []
        for i in range(rounds):
            t0 = time.perf_counter()
            await js.publish(BASELINE_SUBJECT, json.dumps({"i": i}).encode())
            samples.append(await asyncio.wait_for(arrived.get(), 10) - t0)
        await sub.unsubscribe()
        return samples
    finally:
        await nc.close()


@dataclass
class Watch:
    """Times of the executor's reports and of the sandbox's writes, per action / target."""

    reports: dict[tuple[str, str], float] = field(default_factory=dict)
    applied: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def hook(self, sandbox: SandboxApp) -> None:
        apply = sandbox.world.apply

        def timed(name: str, *args: Any, **kw: Any) -> Any:
            result = apply(name, *args, **kw)
            self.applied.setdefault(name, time.perf_counter())
            return result

        sandbox.world.apply = timed

    async def on_report(self, msg: Any) -> None:
        data = Envelope.from_bytes(msg.data).data
        self.reports.setdefault((data["action_id"], data["status"]), time.perf_counter())
        self.changed.set()

    async def until_reported(self, action_id: str, status: str, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while (action_id, status) not in self.reports:
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("the executor did not finish an action in time")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue


async def measure(rounds: int, root: Path) -> Samples:
    async with embedded_broker(root / "nats") as broker:
        samples = Samples(baseline=await _baseline(broker, rounds))
        assert broker.server.auth
        elevation_key = root / "keys" / "elevation.pem"
        load_or_create_private_key(elevation_key)
        policy_key = Ed25519PrivateKey.generate()
        (root / "policy.pub.pem").write_bytes(public_pem(policy_key.public_key()))
        authority = create_elevation(
            ElevationSettings(
                nats_url=broker.url,
                nats_creds=broker.creds("elevation"),
                data_dir=root / "elevation",
                policy_pubkey=root / "policy.pub.pem",
                elevation_key=elevation_key,
                nats_account_dir=broker.server.auth.root,
                log_level="WARNING",
            )
        )
        await authority.start()
        names = [f"bench-{i:03d}" for i in range(rounds + WARMUP)]
        sandbox = create_sandbox(
            data_dir=root / "sandbox",
            sandbox_port=0,
            sandbox_tick_s=3600,
            sandbox_token_pubkey=public_path(elevation_key),
            sandbox_estate=_estate(root / "estate.yaml", names),
            log_level="WARNING",
        )
        await sandbox.start()
        watch = Watch()
        watch.hook(sandbox)
        executor = create_executor(
            ExecutorSettings(
                nats_url=broker.url,
                nats_creds=broker.creds("executor"),
                data_dir=root / "executor",
                sandbox_url=f"http://127.0.0.1:{sandbox.port}",
                policy_pubkey=root / "policy.pub.pem",
                log_level="WARNING",
            )
        )
        watcher = await nats.connect(
            broker.url, user_credentials=str(broker.creds("admin")), inbox_prefix=inbox_prefix("admin")
        )
        policy = broker.bus("policy")
        await executor.start()
        await policy.start()
        await watcher.subscribe(REPORTED, cb=watch.on_report)
        try:
            for i, name in enumerate(names):
                sandbox.world.inject_fault(name, "memory_leak", {}, now=datetime.now(UTC))
                sandbox.world.get(name).memory_pct = 92.0
                approved, doorbell, ticket = _signed(policy_key, name, i)
                action_id = approved.data["action_id"]
                t0 = time.perf_counter()
                await policy.publish(ticket)
                await policy.publish(approved)
                await policy.publish(doorbell)
                await watch.until_reported(action_id, "verified", 60)
                if i < WARMUP:
                    continue
                samples.started.append(watch.reports[(action_id, "started")] - t0)
                samples.acted.append(watch.applied[name] - t0)
                samples.verified.append(watch.reports[(action_id, "verified")] - t0)
        finally:
            await policy.stop()
            await watcher.close()
            await executor.stop()
            await sandbox.stop()
            await authority.stop()
        return samples


def _signed(key: Ed25519PrivateKey, target: str, i: int) -> tuple[Envelope, Envelope, Envelope]:
    action = approved_tier1(key, action_id=f"act-bench-{i:03d}", incident_id=f"inc-bench-{i:03d}", target=target)
    released = release(key, action)
    return released.approved, released.doorbell, released.ticketed


def report(samples: Samples) -> str:
    base = statistics.median(samples.baseline)
    lines = [f"{'measure':<34}{'p50 ms':>10}{'p99 ms':>10}{'p50 / baseline':>16}"]
    rows = [
        ("baseline publish->consume", samples.baseline),
        ("approval -> started (acked)", samples.started),
        ("approval -> action applied", samples.acted),
        ("approval -> verified report", samples.verified),
    ]
    for label, values in rows:
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        lines.append(f"{label:<34}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}{p50 / base:>15.1f}x")
    return "\n".join(lines)


def run(
    rounds: Annotated[int, typer.Option("--rounds", min=2, help="actions to time (one at a time)")] = 30,
) -> None:
    """Approval-to-execution latency (p50/p99) of the executor on the embedded stack, against a
    bare publish->consume baseline measured in the same run."""
    # The stack's per-message INFO logs would drown the table (and cost time on the measured path).
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="warden-bench-executor-") as tmp:
        samples = asyncio.run(measure(rounds, Path(tmp)))
    typer.echo(f"warden bench executor: {rounds} sequential actions (restart_service), embedded stack")
    typer.echo(report(samples))
