"""`warden bench e2e`: alert -> action started for an autonomous tier-1 action, on the embedded stack.

The whole stack exactly as `warden up --config` starts it (NATS in operator mode with
`sync_interval: always`, every service in its own process, SQLite FULL), in a temporary folder,
with a bench estate of dev services under the shipped response plans (memory pressure in dev is
Autonomous; `restart_service` is tier 1). Each round, on its own service:

1. a memory leak is injected into the sandbox (which ticks every `--tick` s) and the bench waits
   until the service's memory crosses the monitor's 85 % threshold;
2. the bench POSTs the Azure Monitor alert the sandbox's monitor would have sent (same builder)
   to triage's webhook: t0;
3. an admin core subscriber on `sre.>` notes when each hop's message appears on the bus.

Hops: webhook -> incident opened (of which webhook -> alert published), incident -> plan
proposed, plan -> policy decided (execute), decision -> executor `started` (signature, ledger,
preflight, elevation). Baseline in the same run, on the same server: a bare JetStream publish ->
push consume -> ack of one message, one at a time. Rounds are sequential; the first `--warmup`
are run but not counted. The gate's hourly rate limit (20 actions across the estate) bounds one
run to 20 actions, so p99 over at most 18 measured rounds is close to the maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import nats
import typer
import yaml
from nats.js.api import StreamConfig
from warden_bus.permissions import inbox_prefix
from warden_cli import estate_wiring
from warden_cli.launcher import EmbeddedStack, StackOptions, service_log_tail
from warden_cli.layout import SERVICES, Layout
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope
from warden_sandbox.domain.alerts import DEFAULT_RULES, common_alert
from warden_sandbox.domain.clock import iso

from warden_bench.stats import percentile

ALERT, INCIDENT, PLAN = "sre.alert.received.v1", "sre.incident.changed.v1", "sre.plan.proposed.v1"
DECIDED, REPORTED, ESCALATION = "sre.policy.decided.v1", "sre.action.reported.v1", "sre.escalation.raised.v1"
HIGH_MEMORY = next(rule for rule in DEFAULT_RULES if rule.key == "high_memory")
BASELINE_STREAM, BASELINE_SUBJECT = "BENCH_E2E_BASELINE", "bench.e2e.baseline"
MAX_ACTIONS = 20  # gate.cedar `hourly_rate_limit`: at most 20 actions per hour across the estate
HOPS = ("webhook_to_incident", "incident_to_plan", "plan_to_decision", "decision_to_started")
ROUND_TIMEOUT_S = 60.0
FINISH_TIMEOUT_S = 30.0
SPARE_SERVICES = 10  # for rounds whose leak ran out of memory before the planner looked (LostRace)
FINAL = ("verified", "succeeded", "failed", "rolled_back", "rejected", "skipped")


@dataclass
class Result:
    rounds: int
    warmup: int
    tick_s: float
    totals: list[float] = field(default_factory=list)
    hops: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in (*HOPS, "webhook_to_alert")})
    baseline: list[float] = field(default_factory=list)
    durability: dict[str, str] = field(default_factory=dict)
    baseline_durability: dict[str, str] = field(default_factory=dict)
    unfinished: int = 0  # actions with no final report within FINISH_TIMEOUT_S (started is what counts)
    lost_races: int = 0  # rounds run again on a spare service (LostRace)

    @property
    def ratio(self) -> float | None:
        """e2e p50 over the bare round trip's p50; None when they ran with different durability."""
        if self.durability != self.baseline_durability or not self.baseline:
            return None
        return statistics.median(self.totals) / statistics.median(self.baseline)

    def as_json(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float]:
            return {"p50_ms": _ms(statistics.median(values)), "p99_ms": _ms(percentile(values, 0.99))}

        return {
            "rounds": self.rounds,
            "warmup": self.warmup,
            "tick_s": self.tick_s,
            **stats(self.totals),
            "hops": {name: stats(values) for name, values in self.hops.items()},
            "baseline_p50_ms": _ms(statistics.median(self.baseline)),
            "baseline_p99_ms": _ms(percentile(self.baseline, 0.99)),
            "ratio_p50": None if self.ratio is None else round(self.ratio, 2),
            "durability": self.durability,
            "baseline_durability": self.baseline_durability,
            "unfinished_actions": self.unfinished,
            "rounds_rerun_after_oom": self.lost_races,
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def bench_estate(path: Path, names: list[str]) -> Path:
    """The demo estate's plans, approvers and observers over `names` (dev services, baseline
    memory at the estate's 60 % ceiling so the leak crosses the threshold quickly); no scheduled
    tasks, free ports."""
    demo = yaml.safe_load(resources.files("warden_estate").joinpath("demo.yaml").read_text())
    sub = "00000000-0000-0000-0000-000000000000"
    demo["services"] = [
        {
            "name": name,
            "environment": "dev",
            "owner": "team-bench",
            "azure_resource_ids": [
                f"/subscriptions/{sub}/resourceGroups/rg-bench-dev/providers/Microsoft.Web/sites/{name}"
            ],
            "simulation": {
                "version": "v2.0.0",
                "previous_version": "v1.9.0",
                "replicas": 2,
                "baseline": {
                    "memory_pct": 60,
                    "error_rate": 0.004,
                    "latency_ms": 100,
                    "queue_depth": 0,
                    "disk_pct": 30,
                },
            },
        }
        for name in names
    ]
    demo["scheduled_tasks"] = []
    demo["listen"] = {"random": True}
    path.write_text(yaml.safe_dump(demo, sort_keys=False))
    return path


def _target(kind: str, data: dict[str, Any]) -> str | None:
    if kind == PLAN:
        actions = data.get("actions") or [{}]
        return actions[0].get("target")
    value = data.get("target") or data.get("service")
    return str(value) if value else None


@dataclass
class Watch:
    """First time each (type, target, detail) appeared on the bus, by one clock."""

    seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, msg: Any) -> None:
        at = time.perf_counter()
        try:
            env = Envelope.from_bytes(msg.data)
        except ValueError:
            return  # audit checkpoints and other non-envelope traffic
        data = env.data if isinstance(env.data, dict) else {}
        target = _target(env.type, data)
        if target is None:
            return
        detail = str(data.get("status") or data.get("outcome") or data.get("change") or "")
        self.seen.setdefault((env.type, target, detail), at)
        self.changed.set()

    def first(self, kind: str, target: str, detail: str = "") -> float | None:
        return self.seen.get((kind, target, detail))

    def failure(self, target: str) -> str | None:
        """What ended the round without an action, if anything did."""
        for kind, name, detail in self.seen:
            if name != target:
                continue
            if kind == ESCALATION:
                return kind
            if kind == REPORTED and detail in {"rejected", "skipped", "failed"}:
                return f"executor reported {detail}"
        return None

    async def until(
        self,
        kind: str,
        target: str,
        detail: str,
        timeout: float,
        abort: Callable[[], Awaitable[None]] | None = None,
    ) -> float:
        """When `kind` `detail` was seen for `target`; `abort` runs between waits and may raise."""
        deadline = time.perf_counter() + timeout
        while (at := self.first(kind, target, detail)) is None:
            if abort is not None:
                await abort()
            problem = self.failure(target)
            if problem:
                raise RuntimeError(f"{target}: no action started ({problem}); hops seen: {self.hops_seen(target)}")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(
                    f"{target}: no {kind} {detail} within {timeout:.0f}s; seen: {self.hops_seen(target)}"
                )
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except TimeoutError:
                continue
        return at

    async def until_any(self, kind: str, target: str, details: tuple[str, ...], timeout: float) -> bool:
        """Whether one of `details` was seen for `target` within `timeout` (no error if not)."""
        deadline = time.perf_counter() + timeout
        while not any(self.first(kind, target, d) is not None for d in details):
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
        return True

    def hops_seen(self, target: str) -> list[str]:
        return sorted(f"{k} {d}".strip() for k, n, d in self.seen if n == target)


async def baseline_round_trips(url: str, creds: Path, rounds: int) -> list[float]:
    """Bare JetStream publish -> push consume -> ack, one message at a time (admin, scratch stream)."""
    nc = await nats.connect(url, user_credentials=str(creds), inbox_prefix=inbox_prefix("admin"))
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=BASELINE_STREAM, subjects=[BASELINE_SUBJECT]))
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def on_msg(msg: Any) -> None:
            await msg.ack()
            arrived.put_nowait(time.perf_counter())

        sub = await js.subscribe(BASELINE_SUBJECT, cb=on_msg, manual_ack=True)
        samples = []
        for i in range(rounds):
            started = time.perf_counter()
            await js.publish(BASELINE_SUBJECT, json.dumps({"i": i}).encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex})
            samples.append(await asyncio.wait_for(arrived.get(), 10) - started)
        await sub.unsubscribe()
        return samples
    finally:
        await nc.close()


async def stream_durability(nc: Any, conf: Path, stream: str) -> dict[str, str]:
    """What an acknowledged publish on `stream` promises: the server's fsync policy and storage."""
    text = await asyncio.to_thread(conf.read_text)
    info = await nc.jetstream().stream_info(stream)
    storage = info.config.storage
    return {
        "jetstream_sync_interval": "always" if "sync_interval: always" in text else "server default (2 min)",
        "stream_storage": str(getattr(storage, "value", storage) or "file"),
        "replicas": str(info.config.num_replicas or 1),
    }


class RoundFailed(RuntimeError):
    pass


class LostRace(RuntimeError):
    """The simulated leak ran out of memory (the sandbox restarted the service) before the planner
    read it, so the planner rightly found it recovered: the round is run again on a spare service."""


def _with_logs(layout: Layout, err: Exception) -> RoundFailed:
    tails = "\n".join(f"--- last log lines of {n} ---\n{service_log_tail(layout, n, 8)}" for n in SERVICES)
    return RoundFailed(f"{err}\n{tails}")


class Sandbox:
    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.http, self.url, self.secret = http, url, secret

    async def leak(self, name: str) -> None:
        body = {"service": name, "kind": "memory_leak"}
        async with self.http.post(
            f"{self.url}/v1/admin/faults", json=body, headers={"X-Sandbox-Admin": self.secret}
        ) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"sandbox refused the fault ({resp.status}): {await resp.text()}")

    async def view(self, name: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/v1/services/{name}") as resp:
            view: dict[str, Any] = await resp.json()
        return view

    async def until_alerting(self, name: str, timeout: float) -> dict[str, Any]:
        """The service's view once the memory rule fires on it (the monitor's own test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.http.get(f"{self.url}/v1/services/{name}") as resp:
                view: dict[str, Any] = await resp.json()
            if HIGH_MEMORY.firing(view):
                return view
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{name}: memory did not reach {HIGH_MEMORY.threshold:g}% within {timeout:.0f}s")


async def _one_round(
    watch: Watch, sandbox: Sandbox, http: aiohttp.ClientSession, webhook: tuple[str, str], name: str, tick: float
) -> tuple[bool, dict[str, float]]:
    await sandbox.leak(name)
    view = await sandbox.until_alerting(name, 40 * tick + 10)
    alert = common_alert(
        HIGH_MEMORY,
        view,
        alert_uuid=str(uuid.uuid4()),
        condition="Fired",
        fired_at=iso(datetime.now(UTC)),
        resolved_at=None,
    )
    url, token = webhook
    body = json.dumps(alert).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"webhook answered {resp.status}: {await resp.text()}")
    restarts = int(view.get("restarts", 0))

    async def oom_before_plan() -> None:
        if watch.first(PLAN, name) is None and int((await sandbox.view(name)).get("restarts", 0)) > restarts:
            raise LostRace(f"{name}: out of memory before the planner read it")

    started = await watch.until(REPORTED, name, "started", ROUND_TIMEOUT_S, oom_before_plan)
    alerted = watch.first(ALERT, name, "Fired")
    opened = watch.first(INCIDENT, name, "opened")
    planned = watch.first(PLAN, name)
    decided = watch.first(DECIDED, name, "execute")
    if None in (alerted, opened, planned, decided):
        raise RuntimeError(f"{name}: a hop was not observed: {watch.hops_seen(name)}")
    assert alerted and opened and planned and decided
    # The action runs to its end before the next round, so rounds do not overlap; how it ends
    # is the executor bench's subject, not this one's.
    finished = await watch.until_any(REPORTED, name, FINAL, FINISH_TIMEOUT_S)
    return finished, {
        "total": started - sent,
        "webhook_to_alert": alerted - sent,
        "webhook_to_incident": opened - sent,
        "incident_to_plan": planned - opened,
        "plan_to_decision": decided - planned,
        "decision_to_started": started - decided,
    }


async def measure(rounds: int, warmup: int, tick: float, root: Path) -> Result:
    if rounds + warmup > MAX_ACTIONS:
        raise ValueError(f"rounds + warmup may not exceed {MAX_ACTIONS} (the gate's hourly rate limit)")
    layout = Layout(root)
    names = [f"bench-svc-{i:02d}" for i in range(rounds + warmup + SPARE_SERVICES)]
    wiring = estate_wiring.wire(layout, bench_estate(root / "warden.yaml", names))
    options = StackOptions(
        tick_s=tick,
        log_level="WARNING",
        health_timeout_s=180,
        estate_env=wiring.env,
        # The bench sends each alert itself (t0 is its POST); the sandbox's monitor stays quiet.
        extra_env={"sandbox": {"WARDEN_ALERT_WEBHOOK_URL": ""}},
    )
    stack = EmbeddedStack(layout, options)
    result = Result(rounds, warmup, tick)
    await stack.start()
    try:
        assert stack.nats
        admin = layout.creds("admin")
        conf = root / "nats-server.conf"
        watcher = await nats.connect(stack.nats.url, user_credentials=str(admin), inbox_prefix=inbox_prefix("admin"))
        watch = Watch()
        await watcher.subscribe("sre.>", cb=watch.on_message)
        try:
            result.baseline = await baseline_round_trips(stack.nats.url, admin, rounds + warmup)
            result.baseline = result.baseline[warmup:]
            result.baseline_durability = await stream_durability(watcher, conf, BASELINE_STREAM)
            result.durability = await stream_durability(watcher, conf, topo.topic(ALERT).stream)
            secrets = layout.secrets()
            async with aiohttp.ClientSession() as http:
                sandbox = Sandbox(http, stack.sandbox_url, secrets["sandbox_admin_secret"])
                pool, done = iter(names), 0
                while done < rounds + warmup:
                    name = next(pool, None)
                    if name is None:
                        raise _with_logs(layout, RuntimeError(f"lost the race on {result.lost_races} services"))
                    try:
                        finished, hops = await _one_round(
                            watch, sandbox, http, (stack.webhook_url, secrets["webhook_token"]), name, tick
                        )
                    except LostRace:
                        result.lost_races += 1
                        continue
                    except (RuntimeError, TimeoutError) as err:
                        raise _with_logs(layout, err) from err
                    done += 1
                    result.unfinished += not finished
                    if done <= warmup:
                        continue
                    result.totals.append(hops.pop("total"))
                    for hop, value in hops.items():
                        result.hops[hop].append(value)
        finally:
            await watcher.close()
    finally:
        await stack.stop()
    return result


def report(r: Result) -> str:
    labels = {
        "webhook_to_incident": "webhook -> incident opened",
        "webhook_to_alert": "  of which webhook -> alert published",
        "incident_to_plan": "incident -> plan proposed",
        "plan_to_decision": "plan -> decision (execute)",
        "decision_to_started": "decision -> executor started",
    }
    base = statistics.median(r.baseline)
    lines = [
        f"durability: {json.dumps(r.durability)}",
        f"{'measure':<40}{'p50 ms':>10}{'p99 ms':>10}{'p50 / baseline':>16}",
    ]

    def row(label: str, values: list[float]) -> str:
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        return f"{label:<40}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}{p50 / base:>15.1f}x"

    lines.append(row("baseline JetStream publish->consume", r.baseline))
    lines.append(row("alert -> action started (total)", r.totals))
    for hop in (
        "webhook_to_incident",
        "webhook_to_alert",
        "incident_to_plan",
        "plan_to_decision",
        "decision_to_started",
    ):
        lines.append(row(labels[hop], r.hops[hop]))
    if r.lost_races:
        lines.append(f"{r.lost_races} round(s) run again: the leak ran out of memory before the planner read it")
    if r.unfinished:
        lines.append(f"{r.unfinished} action(s) sent no final report within {FINISH_TIMEOUT_S:.0f}s after starting")
    if r.ratio is None:
        lines.append(f"ratio not reported: the baseline ran with other durability {json.dumps(r.baseline_durability)}")
    return "\n".join(lines)


def run(
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=MAX_ACTIONS - 1, help="actions to time")] = 18,
    warmup: Annotated[int, typer.Option(min=0, help="actions run first and not counted")] = 2,
    tick: Annotated[float, typer.Option("--tick", min=0.1, help="sandbox tick (s); the leak needs ~7 ticks")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of the table")] = False,
) -> None:
    """Alert -> action started (p50/p99, per hop) for an autonomous tier-1 restart on the embedded
    stack, against a bare JetStream round trip measured in the same run."""
    if rounds + warmup > MAX_ACTIONS:
        raise typer.BadParameter(f"--rounds + --warmup may not exceed {MAX_ACTIONS} (the gate's hourly rate limit)")
    with tempfile.TemporaryDirectory(prefix="warden-bench-e2e-") as tmp:
        result = asyncio.run(measure(rounds, warmup, tick, Path(tmp)))
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    typer.echo(
        f"warden bench e2e: {rounds} sequential alerts (memory leak -> restart_service, autonomous, tier 1) after"
        f" {warmup} warm-up, embedded stack, services at log level WARNING"
    )
    typer.echo(report(result))
