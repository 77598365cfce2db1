"""Fault injection: SIGKILL the executor process at random points and restart it, many times.

Real pieces only: one embedded NATS server (operator mode, the generated permissions), the
elevation service, the sandbox over HTTP with its write tokens, and the
executor as a subprocess (`python -m warden_executor`). Every trial approves one restart of its
own sandbox service, rings the doorbell and kills the executor at a chosen point:

- early       a random 0-200 ms after the doorbell (elevation, fetch, admission)
- at_started  the moment its `started` report reaches the broker
- in_act      inside the sandbox's action handler: applied, the executor never hears back
- in_verify   on the first read after the action landed (verification under way)
- at_report   the moment the terminal report reaches the broker (ledger not closed yet)
- random      a random 0-2 s after the doorbell

then starts a fresh process. Zero lost (every action ends `verified`), zero duplicates (the
sandbox applied each restart exactly once; one `started` and one terminal report per action).

The durable consumers' ack wait is cut to a few seconds here so messages a killed process had
fetched come back quickly; that makes redelivery more aggressive, never safer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_bus.provision import consumer_config
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope
from warden_elevation.app import Settings as ElevationSettings
from warden_elevation.app import create_app as create_elevation
from warden_sandbox.app import SandboxApp
from warden_sandbox.app import create_app as create_sandbox
from warden_security.keys import load_or_create_private_key, public_path, public_pem
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.releases import approved_tier1, release

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TRIALS = 52
PHASES = ("early", "at_started", "in_act", "in_verify", "at_report", "random")
REPORTED, APPROVED, PENDING = "sre.action.reported.v1", "sre.action.approved.v1", "sre.action.pending.v1"
TICKETED = "sre.elevation.ticketed.v1"
TERMINAL = {"verified", "failed", "rolled_back", "rejected", "skipped", "succeeded"}
TEST_ACK_WAIT_S = 2.0
TRIAL_DEADLINE_S = 90.0


def estate(path: Path, names: list[str]) -> Path:
    services = [
        {
            "name": name,
            "environment": "dev",
            "resource_group": "rg-crash",
            "provider": "Microsoft.Web/sites",
            "version": "v1.0.0",
            "previous_version": "v0.9.0",
            "replicas": 2,
            "dependencies": [],
            "cert_days_left": 120,
            "baseline": {"memory_pct": 45},
        }
        for name in names
    ]
    path.write_text(yaml.safe_dump({"subscription_id": "00000000-0000-0000-0000-000000000000", "services": services}))
    return path


@dataclass
class Killer:
    """Kills the executor process the first time the armed hook fires."""

    pid: int | None = None
    armed: str | None = None
    action_id: str | None = None
    target: str | None = None
    fired_at: str | None = None
    applied: Counter[str] = field(default_factory=Counter)
    _landed: set[str] = field(default_factory=set)

    def arm(self, pid: int, phase: str, action_id: str, target: str) -> None:
        self.pid, self.armed, self.action_id, self.target, self.fired_at = pid, phase, action_id, target, None

    def fire(self, phase: str) -> None:
        if self.armed == phase and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.fired_at, self.armed = phase, None

    def on_report(self, env: Envelope) -> None:
        if env.data.get("action_id") != self.action_id:
            return
        self.fire("at_started" if env.data["status"] == "started" else "at_report")

    def hook(self, sandbox: SandboxApp) -> None:
        world = sandbox.world
        apply, get = world.apply, world.get

        def applying(name: str, kind: str, params: dict[str, Any], **kw: Any) -> Any:
            result = apply(name, kind, params, **kw)
            self.applied[name] += 1
            self._landed.add(name)
            if name == self.target:
                self.fire("in_act")
            return result

        def reading(name: str) -> Any:
            if name == self.target and name in self._landed:
                self.fire("in_verify")
            return get(name)

        world.apply = applying  # type: ignore[method-assign]
        world.get = reading  # type: ignore[method-assign]


# The executor's own entry point (`python -m warden_executor` runs the same `main`), with the
# imports done before the go signal: a restart then costs what a real restart costs after the
# interpreter is warm, and the 50+ trials fit in CI time.
STANDBY = "import sys, warden_executor.app as app; sys.stdin.readline(); app.main([])"


@dataclass
class ExecutorProcess:
    env: dict[str, str]
    logs: Path
    popen: subprocess.Popen[bytes] | None = None
    # Two warm interpreters in reserve: a restart right after another need not wait for imports.
    standby: list[subprocess.Popen[bytes]] = field(default_factory=list)
    starts: int = 0
    log_of: dict[int, Path] = field(default_factory=dict)

    def _spawn(self) -> subprocess.Popen[bytes]:
        path = self.logs / f"executor-{len(self.log_of) + 1:03d}.log"
        with path.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-c", STANDBY],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log_of[popen.pid] = path
        return popen

    def start(self) -> int:
        while len(self.standby) < 2:
            self.standby.append(self._spawn())
        popen = self.standby.pop(0)
        assert popen.stdin is not None
        popen.stdin.write(b"go\n")
        popen.stdin.flush()
        self.popen, self.starts = popen, self.starts + 1
        self.standby.append(self._spawn())
        return popen.pid

    async def wait_dead(self) -> None:
        assert self.popen is not None
        await asyncio.to_thread(self.popen.wait, 30)

    async def stop(self) -> None:
        for standby in self.standby:
            standby.kill()
            await asyncio.to_thread(standby.wait, 10)
        self.standby.clear()
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.popen.wait, 20)
            except subprocess.TimeoutExpired:
                self.popen.kill()

    def tail(self) -> str:
        path = self.log_of.get(self.popen.pid) if self.popen else None
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path else ""


@dataclass
class Stack:
    broker: EmbeddedBroker
    sandbox: SandboxApp
    executor: ExecutorProcess
    killer: Killer
    reports: list[Envelope]
    policy_key: Ed25519PrivateKey
    data_dir: Path


async def shorten_ack_wait(broker: EmbeddedBroker) -> None:
    nc = await broker.connect("admin")
    try:
        js = nc.jetstream()
        for name in (APPROVED, PENDING):
            t = topo.topic(name)
            config = consumer_config(t, "executor")
            config.ack_wait = TEST_ACK_WAIT_S
            await js.add_consumer(t.stream, config)
            info = await js.consumer_info(t.stream, "executor")
            assert info.config.ack_wait == TEST_ACK_WAIT_S
    finally:
        await nc.close()


@pytest.fixture
async def stack(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Stack]:
    await shorten_ack_wait(broker)
    assert broker.server.auth
    elevation_key = tmp_path / "keys" / "elevation.pem"
    load_or_create_private_key(elevation_key)
    policy_key = Ed25519PrivateKey.generate()
    (tmp_path / "policy.pub.pem").write_bytes(public_pem(policy_key.public_key()))
    authority = create_elevation(
        ElevationSettings(
            nats_url=broker.url,
            nats_creds=broker.creds("elevation"),
            data_dir=tmp_path / "elevation",
            policy_pubkey=tmp_path / "policy.pub.pem",
            elevation_key=elevation_key,
            nats_account_dir=broker.server.auth.root,
            log_level="WARNING",
        )
    )
    await authority.start()
    names = [f"crash-{i:02d}" for i in range(TRIALS)]
    sandbox = create_sandbox(
        data_dir=tmp_path / "sandbox",
        sandbox_port=0,
        sandbox_tick_s=3600,  # no simulated drift: every metric change comes from an action
        sandbox_token_pubkey=public_path(elevation_key),
        sandbox_estate=estate(tmp_path / "estate.yaml", names),
        log_level="WARNING",
    )
    await sandbox.start()
    killer = Killer()
    killer.hook(sandbox)
    (tmp_path / "logs").mkdir()
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("executor")),
        "WARDEN_DATA_DIR": str(tmp_path / "executor"),
        "WARDEN_HTTP_PORT": "0",
        "WARDEN_LOG_LEVEL": "INFO",
        "WARDEN_SANDBOX_URL": f"http://127.0.0.1:{sandbox.port}",
        "WARDEN_POLICY_PUBKEY": str(tmp_path / "policy.pub.pem"),
    }
    reports: list[Envelope] = []
    watcher = await broker.connect("admin")

    async def on_report(msg: Any) -> None:
        env = Envelope.from_bytes(msg.data)
        reports.append(env)
        killer.on_report(env)

    await watcher.subscribe(REPORTED, cb=on_report)
    executor = ExecutorProcess(env, tmp_path / "logs")
    try:
        yield Stack(broker, sandbox, executor, killer, reports, policy_key, tmp_path / "executor")
    finally:
        await executor.stop()
        await watcher.close()
        await sandbox.stop()
        await authority.stop()


def approve(key: Ed25519PrivateKey, target: str, n: int) -> tuple[Envelope, Envelope, Envelope]:
    action = approved_tier1(key, action_id=f"act-crash-{n:02d}", incident_id=f"inc-crash-{n:02d}", target=target)
    return release(key, action).in_order


async def until(condition: Callable[[], bool], timeout: float, what: str, diagnose: Callable[[], str]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s\n{diagnose()}")
        await asyncio.sleep(0.05)


async def test_sigkill_at_random_points_neither_loses_nor_repeats_an_action(stack: Stack) -> None:
    rng = random.Random(20261121)
    plan = [PHASES[i % len(PHASES)] for i in range(TRIALS)]
    rng.shuffle(plan)
    policy = stack.broker.bus("policy")
    await policy.start()
    fired: Counter[str] = Counter()
    seconds: dict[str, list[float]] = {}
    loop = asyncio.get_running_loop()
    pid = stack.executor.start()
    try:
        for n, phase in enumerate(plan):
            target = f"crash-{n:02d}"
            stack.sandbox.world.inject_fault(target, "memory_leak", {}, now=datetime.now(UTC))
            stack.sandbox.world.get(target).memory_pct = 92.0
            ticketed, approved, doorbell = approve(stack.policy_key, target, n)
            action_id = approved.data["action_id"]
            stack.killer.arm(pid, phase, action_id, target)
            began = loop.time()
            await policy.publish(ticketed)
            await policy.publish(approved)
            await policy.publish(doorbell)
            if phase in ("early", "random"):
                await asyncio.sleep(rng.uniform(0, 0.2 if phase == "early" else 2.0))
                stack.killer.fire(phase)
            else:
                await until(
                    lambda: stack.killer.fired_at is not None or ended(stack.reports, action_id),
                    TRIAL_DEADLINE_S,
                    f"trial {n} ({phase}) reaching its kill point",
                    stack.executor.tail,
                )
                if stack.killer.fired_at is None:
                    stack.killer.armed = None  # the action finished before the hook could fire
            if stack.killer.fired_at is not None:
                fired[stack.killer.fired_at] += 1
                await stack.executor.wait_dead()
                pid = stack.executor.start()
            await until(
                lambda: ended(stack.reports, action_id),
                TRIAL_DEADLINE_S,
                f"trial {n} ({phase}): a terminal report for {action_id}",
                stack.executor.tail,
            )
            seconds.setdefault(phase, []).append(round(loop.time() - began, 2))
        # The last process may have been stopped mid-recovery: one more start finishes it.
        await stack.executor.stop()
        stack.executor.start()
        await until(
            lambda: open_drains(stack.data_dir) == 0,
            TRIAL_DEADLINE_S,
            "the drain journal emptying",
            stack.executor.tail,
        )
    finally:
        await policy.stop()
        await stack.executor.stop()

    mean = {p: round(sum(v) / len(v), 2) for p, v in seconds.items()}
    print(json.dumps({"kills": dict(fired), "processes": stack.executor.starts, "mean_trial_s": mean}))
    assert sum(fired.values()) >= 50, fired
    assert all(fired[p] >= 5 for p in ("at_started", "in_act", "in_verify", "at_report")), fired
    await check_exactly_once(stack, plan)


def open_drains(data_dir: Path) -> int:
    with contextlib.closing(sqlite3.connect(data_dir / "state" / "executor.db", timeout=10)) as db:
        return int(db.execute("SELECT count(*) FROM drain_journal").fetchone()[0])


def ended(reports: list[Envelope], action_id: str) -> bool:
    return any(r.data["action_id"] == action_id and r.data["status"] in TERMINAL for r in reports)


async def check_exactly_once(stack: Stack, plan: list[str]) -> None:
    durable = await stack.broker.read_all(REPORTED)
    by_action: dict[str, list[str]] = {}
    for env in durable:
        by_action.setdefault(env.data["action_id"], []).append(env.data["status"])
    recovered = 0
    for n in range(len(plan)):
        target, action_id = f"crash-{n:02d}", f"act-crash-{n:02d}"
        assert stack.killer.applied[target] == 1, f"{target}: applied {stack.killer.applied[target]} times"
        assert stack.sandbox.world.get(target).restarts == 1
        assert sorted(by_action[action_id]) == ["started", "verified"], (action_id, by_action[action_id])
        [final] = [e for e in durable if e.data["action_id"] == action_id and e.data["status"] == "verified"]
        recovered += "recovery" in final.data["evidence"]
    assert recovered >= 10, f"only {recovered} reports say how an interrupted action was finished"
    with contextlib.closing(sqlite3.connect(stack.data_dir / "state" / "executor.db")) as db:
        states = Counter(row[0] for row in db.execute("SELECT state || ':' || outcome FROM ledger"))
    assert states == {"done:verified": len(plan)}, states
    print(json.dumps({"trials": len(plan), "recovered_reports": recovered}))
