"""`warden bench triage`: alert-storm throughput, latency and memory of triage on the embedded stack.

One throwaway embedded NATS server (operator mode, provisioned from the topology) in a temporary
directory, and the triage service as its own process (`python -m warden_triage`, exactly what
`warden up` starts), so its memory is measured alone. The storm (`warden_testkit.triage.storm`):
`--alerts` distinct alerts from 50 problems over 200 resources, posted as Alertmanager v4 groups
of 100 to the webhook by 8 concurrent senders that honour 429/503 + Retry-After.

- sustained alerts/s : alerts / (first POST -> last alert committed in triage's incident store)
- ingest->incident   : per alert, POST sent -> its message committed (the store's processed_at);
                       under a storm this is dominated by queueing, which is the point
- peak memory        : the triage processes' VmHWM (peak RSS; the intake's plus its alert consumer's),
                       and their RSS sampled during the storm

Baseline in the same run, on the same server: raw JetStream publish (500 in flight) and pull
consume (fetch 100, ack each) of as many messages of the same size as one alert envelope; and
the raw pipeline (`raw_pipeline`: POST -> publish -> consume -> ack) fed the same storm, once
publishing as triage does (an atomic batch per group: the ratio's baseline) and once publishing
each alert apart (the baseline before triage published batches). The ratio's baseline runs before
triage and again after it, and the ratio is against the mean of the two: a machine whose pace
drifts during the run moves both sides of it, not only one.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from nats.js.api import StreamConfig
from warden_bus.embedded_server import free_port
from warden_contracts import topology as topo
from warden_testkit.bus import EmbeddedBroker, embedded_broker
from warden_testkit.triage import storm
from warden_triage.adapters.store_inspection import incident_alert_counts, processed_times

from warden_bench.stats import percentile

ALERT_TOPIC = "sre.alert.received.v1"
TOKEN = "bench-token"
SENDERS = 8
RAW_STREAM, RAW_SUBJECT = "BENCH_TRIAGE_RAW", "bench.triage.raw"


@dataclass
class Result:
    alerts: int
    seconds: float
    latencies: list[float]
    raw_publish_per_s: float
    raw_consume_per_s: float
    rss_samples_kib: list[int] = field(default_factory=list)
    peak_kib: int = 0
    incidents: int = 0
    retries: int = 0
    steady_per_s: float = 0.0  # triage, the initial backlog fill excluded
    raw_e2e_per_s: float = 0.0  # the raw pipeline, same storm, same way of counting
    raw_e2e_latencies: list[float] = field(default_factory=list)
    durability: dict[str, str] = field(default_factory=dict)
    raw_durability: dict[str, str] = field(default_factory=dict)
    cpu_s: float = 0.0  # user + system CPU of the triage processes during the storm
    raw_each_e2e_per_s: float = 0.0  # the raw pipeline publishing each alert apart (before atomic batches)
    raw_e2e_runs: list[float] = field(default_factory=list)  # the baseline before and after triage
    # (time.time(), CPU seconds of the triage processes so far), sampled through the storm
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)
    commit_times: list[float] = field(default_factory=list)  # each alert's commit, as `done`
    started_at: float = 0.0  # the first POST

    @property
    def per_s(self) -> float:
        return self.alerts / self.seconds

    @property
    def ratio(self) -> float | None:
        """Triage's steady rate over the raw pipeline's; None when their durability differs."""
        if self.durability != self.raw_durability or not self.raw_e2e_per_s:
            return None
        return self.steady_per_s / self.raw_e2e_per_s

    @property
    def cpu_by_quarter(self) -> list[float]:
        return cpu_ms_per_alert_by_quarter(self.cpu_samples, self.commit_times, self.started_at)

    def as_json(self) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies)
        return {
            "alerts": self.alerts,
            "sustained_alerts_per_s": round(self.steady_per_s, 1),
            "whole_storm_alerts_per_s": round(self.per_s, 1),
            "raw_end_to_end_per_s": round(self.raw_e2e_per_s, 1),
            "raw_end_to_end_runs_per_s": [round(x, 1) for x in self.raw_e2e_runs],
            "raw_publish": "one JetStream atomic batch per group, as triage publishes",
            "raw_each_end_to_end_per_s": round(self.raw_each_e2e_per_s, 1),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "raw_p50_ms": round(statistics.median(self.raw_e2e_latencies or [0.0]) * 1000, 1),
            "peak_rss_mib": round(self.peak_kib / 1024, 1),
            # first / median / last RSS sampled during the storm: flat, or growing with it
            "rss_mib": [
                round(k / 1024, 1)
                for k in (
                    [self.rss_samples_kib[0], int(statistics.median(self.rss_samples_kib)), self.rss_samples_kib[-1]]
                    if self.rss_samples_kib
                    else []
                )
            ],
            "triage_cpu_ms_per_alert": round(1000 * self.cpu_s / self.alerts, 3),
            # Flat, or rising as the store fills: what a longer storm would cost per alert.
            "triage_cpu_ms_per_alert_by_quarter": [round(x, 3) for x in self.cpu_by_quarter],
            "incidents": self.incidents,
            "retries": self.retries,
            "raw_publish_per_s": round(self.raw_publish_per_s, 1),
            "raw_consume_per_s": round(self.raw_consume_per_s, 1),
            "durability": self.durability,
            "raw_durability": self.raw_durability,
        }


async def raw_jetstream(broker: EmbeddedBroker, count: int, size: int) -> tuple[float, float]:
    nc = await broker.connect("admin")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=RAW_STREAM, subjects=[RAW_SUBJECT]))
        body = b"x" * size
        started = time.perf_counter()
        for first in range(0, count, 500):
            acks = [js.publish(RAW_SUBJECT, body, timeout=60) for _ in range(min(500, count - first))]
            await asyncio.gather(*acks)
        publish_s = time.perf_counter() - started
        sub = await js.pull_subscribe(RAW_SUBJECT, durable="bench", stream=RAW_STREAM)
        started, consumed = time.perf_counter(), 0
        while consumed < count:
            for msg in await sub.fetch(100, timeout=10):
                await msg.ack()
                consumed += 1
        consume_s = time.perf_counter() - started
        await js.delete_stream(RAW_STREAM)
        return count / publish_s, count / consume_s
    finally:
        await nc.close()


def steady_rate(done: list[float], fill: float = 0.1) -> float:
    """Completions per second once the first `fill` of them are done: the start, while the
    backlog fills and the consumer warms up, is not the rate it sustains."""
    ordered = sorted(done)
    first = int(len(ordered) * fill)
    span = ordered[-1] - ordered[first]
    return (len(ordered) - 1 - first) / span if span > 0 else float("inf")


async def durability(broker: EmbeddedBroker, stream: str) -> dict[str, str]:
    """What a publish acknowledgement promises on `stream`: the server's fsync policy and storage."""
    conf = (broker.server.data_dir / "nats-server.conf").read_text()
    sync = "always" if "sync_interval: always" in conf else "server default (2 min)"
    nc = await broker.connect("admin")
    try:
        info = await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()
    storage = info.config.storage
    return {
        "jetstream_sync_interval": sync,
        "stream_storage": str(getattr(storage, "value", storage) or "file"),
        "replicas": str(info.config.num_replicas or 1),
        "triage_sqlite_synchronous": "FULL",
    }


async def raw_end_to_end(
    broker: EmbeddedBroker, groups: list[dict[str, Any]], rate: float, tmp: Path, *, each: bool = False
) -> tuple[float, list[float], dict[str, str]]:
    """The raw pipeline (`raw_pipeline`) in its own process, fed the same storm the same way;
    `each`: publishing every alert apart instead of a batch per group."""
    port = free_port()
    log = (tmp / "raw-pipeline.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warden_bench.raw_pipeline",
            broker.url,
            str(broker.creds("admin")),
            str(port),
            *(["--each"] if each else []),
        ],
        stdout=log,
        stderr=log,
    )
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            await _wait_healthy(session, base, proc)
            sent_at, _ = await _send_storm(session, f"{base}/raw", groups, rate)
            deadline = time.monotonic() + 600
            while True:
                async with session.get(f"{base}/times") as resp:
                    done: dict[str, float] = await resp.json()
                if sent_at.keys() <= done.keys() or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        from warden_bench.raw_pipeline import STREAM

        settings = await durability(broker, STREAM)
    finally:
        proc.terminate()
        proc.wait(30)
    finished = [done[m] for m in sent_at if m in done]
    if len(finished) != len(sent_at):
        raise RuntimeError(f"the raw pipeline consumed {len(finished)} of {len(sent_at)} messages")
    return steady_rate(finished), [done[m] - sent_at[m] for m in sent_at], settings


def _rss_kib(pid: int, field_name: str) -> int:
    """Of the process and its children (triage's alert consumer runs as the intake's child)."""
    total = 0
    for member in [pid, *_children(pid)]:
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue  # exited meanwhile
        total += next((int(line.split()[1]) for line in lines if line.startswith(field_name + ":")), 0)
    return total


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process and its children so far."""
    ticks = 0
    for member in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start_triage(broker: EmbeddedBroker, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("triage")),
        "WARDEN_DATA_DIR": str(data_dir),
        "WARDEN_HTTP_PORT": str(port),
        "WARDEN_WEBHOOK_TOKEN": TOKEN,
        "WARDEN_LOG_LEVEL": "WARNING",
    }
    log = (data_dir / "triage.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "warden_triage"], env=env, stdout=log, stderr=log), port


async def _wait_healthy(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"triage exited with {proc.returncode}")
        try:
            async with session.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("triage did not become healthy within 60 s")


async def _send_storm(
    session: aiohttp.ClientSession, url: str, groups: list[dict[str, Any]], rate: float
) -> tuple[dict[str, float], int]:
    """POST every group; returns message id -> time its POST was first sent, and the retry count."""
    sent_at: dict[str, float] = {}
    retries = 0
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for group in groups:
        queue.put_nowait(group)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    pace = len(groups[0]["alerts"]) / rate if rate else 0.0
    begun = time.perf_counter()

    async def sender() -> None:
        nonlocal retries
        while not queue.empty():
            group = queue.get_nowait()
            body = json.dumps(group).encode()
            first = time.time()
            while True:
                async with session.post(url, data=body, headers=headers) as resp:
                    if resp.status in {429, 503}:
                        retries += 1
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                        continue
                    if resp.status != 202:
                        raise RuntimeError(f"webhook answered {resp.status}: {await resp.text()}")
                    for accepted in (await resp.json())["accepted"]:
                        sent_at[accepted["message_id"]] = first
                    break
            if pace:  # paced mode: hold the offered load at --rate alerts/s
                target = begun + pace * (len(groups) - queue.qsize())
                await asyncio.sleep(max(0.0, target - time.perf_counter()))

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return sent_at, retries


async def measure(alerts: int, rate: float, tmp: Path) -> Result:
    plan = storm(alerts=alerts, problems=50, resources_per_problem=4, group_size=100)
    async with embedded_broker(tmp / "nats") as broker:
        sample = json.dumps(plan.groups[0]["alerts"][0]).encode()
        raw_pub, raw_con = await raw_jetstream(broker, alerts, len(sample) * 2)
        raw_e2e, raw_latencies, raw_settings = await raw_end_to_end(broker, plan.groups, rate, tmp)
        raw_each, _, _ = await raw_end_to_end(broker, plan.groups, rate, tmp, each=True)
        settings = await durability(broker, topo.topic(ALERT_TOPIC).stream)
        data_dir = tmp / "triage"
        data_dir.mkdir()
        proc, port = start_triage(broker, data_dir)
        rss: list[int] = []
        cpu_samples: list[tuple[float, float]] = []  # (time, CPU s of the processes so far)
        try:
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{port}"
                await _wait_healthy(session, base, proc)
                cpu_before = _cpu_s(proc.pid)
                started = time.time()
                cpu_samples.append((started, cpu_before))
                sampler = asyncio.create_task(_sample(proc.pid, rss, cpu_samples))
                sent_at, retries = await _send_storm(session, f"{base}/webhooks/prometheus", plan.groups, rate)
                db = data_dir / "state" / "triage.db"
                done = await _wait_processed(db, set(sent_at), proc)
                sampler.cancel()
                peak = _rss_kib(proc.pid, "VmHWM")
                cpu_samples.append((time.time(), _cpu_s(proc.pid)))
                cpu = cpu_samples[-1][1] - cpu_before
                incidents = await asyncio.to_thread(incident_alert_counts, db)
        finally:
            proc.terminate()
            proc.wait(30)
        raw_after, _, raw_after_settings = await raw_end_to_end(broker, plan.groups, rate, tmp)
    if raw_after_settings != raw_settings:
        raise RuntimeError(f"the baseline's durability changed during the run: {raw_settings} -> {raw_after_settings}")
    finished = max(done.values()).timestamp()
    latencies = [done[m].timestamp() - sent_at[m] for m in sent_at]
    if sorted(incidents.values()) != sorted(plan.alerts_per_problem.values()):
        raise RuntimeError(f"storm did not collapse into {plan.problems} incidents: {sorted(incidents.values())}")
    steady = steady_rate([done[m].timestamp() for m in sent_at])
    return Result(
        len(sent_at),
        finished - started,
        latencies,
        raw_pub,
        raw_con,
        rss,
        peak,
        len(incidents),
        retries,
        steady,
        statistics.fmean([raw_e2e, raw_after]),
        raw_latencies,
        settings,
        raw_settings,
        cpu,
        raw_each,
        [raw_e2e, raw_after],
        [(t, c - cpu_before) for t, c in cpu_samples],
        [done[m].timestamp() for m in sent_at],
        started,
    )


async def _sample(pid: int, rss: list[int], cpu: list[tuple[float, float]]) -> None:
    while True:
        rss.append(_rss_kib(pid, "VmRSS"))
        cpu.append((time.time(), _cpu_s(pid)))
        await asyncio.sleep(0.5)


def cpu_ms_per_alert_by_quarter(
    samples: list[tuple[float, float]], commit_times: list[float], started_at: float
) -> list[float]:
    """Triage's CPU per alert in each quarter of the storm's alerts, taken in commit order: the
    CPU spent (interpolated between `samples` of (time, CPU s)) from the previous quarter's last
    commit (the first POST for the first) to this quarter's last, over its alerts."""
    if not samples or len(commit_times) < 4:
        return []
    times = [t for t, _ in samples]

    def cpu_at(t: float) -> float:
        i = bisect.bisect_left(times, t)
        if i == 0:
            return samples[0][1]
        if i == len(samples):
            return samples[-1][1]
        (t0, c0), (t1, c1) = samples[i - 1], samples[i]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)

    commits = sorted(commit_times)
    cuts = [len(commits) * q // 4 for q in range(5)]  # alerts committed by the end of each quarter
    ends = [commits[cut - 1] for cut in cuts[1:]]
    begins = [started_at, *ends[:-1]]
    sizes = [b - a for a, b in itertools.pairwise(cuts)]
    return [1000 * (cpu_at(e) - cpu_at(b)) / n for b, e, n in zip(begins, ends, sizes, strict=True)]


async def _wait_processed(db: Path, ids: set[str], proc: subprocess.Popen[bytes]) -> dict[str, datetime]:
    deadline = time.monotonic() + 3600
    while True:
        done = await asyncio.to_thread(processed_times, db)
        if ids <= done.keys():
            return {m: done[m] for m in ids}
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"triage processed {len(ids & done.keys())} of {len(ids)} alerts")
        await asyncio.sleep(1.0)


def report(r: Result) -> str:
    ms = [x * 1000 for x in r.latencies]
    mib = [k / 1024 for k in r.rss_samples_kib] or [0.0]
    ratio = "not reported: the baseline ran with other durability" if r.ratio is None else f"{r.ratio:.3f}x"
    raw_ms = [x * 1000 for x in r.raw_e2e_latencies] or [0.0]
    return "\n".join(
        [
            f"durability: {json.dumps(r.durability)}",
            f"raw end to end (POST -> publish -> consume -> ack) {r.raw_e2e_per_s:10.0f} msg/s steady"
            f"   p50 {statistics.median(raw_ms):.0f} ms   (an atomic batch per group, as triage publishes;"
            f" mean of {' before and '.join(f'{x:.0f}' for x in r.raw_e2e_runs)} after triage)",
            f"  the same, each alert published apart          {r.raw_each_e2e_per_s:10.0f} msg/s steady",
            f"triage sustained, steady state             {r.steady_per_s:10.0f} alerts/s   = {ratio} raw end to end",
            f"raw JetStream publish (500 in flight)      {r.raw_publish_per_s:10.0f} msg/s",
            f"raw JetStream pull consume + ack           {r.raw_consume_per_s:10.0f} msg/s",
            f"triage sustained (webhook -> incident)     {r.per_s:10.0f} alerts/s"
            f"   = {r.per_s / r.raw_publish_per_s:.3f}x raw publish, {r.per_s / r.raw_consume_per_s:.3f}x raw consume",
            f"ingest -> incident latency  p50 {statistics.median(ms):9.0f} ms   p99 {percentile(ms, 0.99):9.0f} ms"
            f"   max {max(ms):9.0f} ms",
            f"triage CPU {1000 * r.cpu_s / r.alerts:.3f} ms per alert (user + system, intake and consumer);"
            f" by quarter of the storm {' / '.join(f'{x:.3f}' for x in r.cpu_by_quarter)}",
            f"triage memory  peak RSS (VmHWM) {r.peak_kib / 1024:7.1f} MiB   RSS during storm"
            f" first {mib[0]:.1f} / median {statistics.median(mib):.1f} / last {mib[-1]:.1f} MiB",
            f"{r.alerts} alerts, every one attached to one of {r.incidents} incidents; 429/503 retries: {r.retries}",
        ]
    )


def run(
    alerts: Annotated[int, typer.Option("--alerts", min=200, help="storm size (a multiple of 200)")] = 100_000,
    rate: Annotated[float, typer.Option("--rate", min=0, help="offered alerts/s; 0 = as fast as accepted")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of the table")] = False,
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="on `warden cluster`: 1 then 2 triage replicas in the same run, and the ratio"),
    ] = False,
) -> None:
    """Triage under an alert storm: sustained alerts/s, p99 ingest->incident latency and peak memory,
    next to raw JetStream publish/consume rates measured in the same run."""
    if alerts % 200:
        raise typer.BadParameter("--alerts must be a multiple of 200 (50 problems x 4 resources)")
    if cluster:
        _run_cluster(alerts, as_json)
        return
    with tempfile.TemporaryDirectory(prefix="warden-bench-triage-") as tmp:
        result = asyncio.run(measure(alerts, rate, Path(tmp)))
    if as_json:
        typer.echo(json.dumps(result.as_json() | {"rate": rate}))
        return
    mode = f"paced at {rate:g} alerts/s" if rate else "as fast as the webhook accepts"
    typer.echo(f"warden bench triage: {alerts} alerts, 50 problems x 4 resources, {mode}, embedded stack")
    typer.echo(report(result))


def _run_cluster(alerts: int, as_json: bool) -> None:
    from warden_bench import triage_cluster

    with tempfile.TemporaryDirectory(prefix="warden-bench-triage-cluster-") as tmp:
        result = asyncio.run(triage_cluster.measure_cluster(alerts, Path(tmp)))
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    typer.echo(
        f"warden bench triage --cluster: {alerts} alerts per phase, 50 problems x 4 resources, as fast as accepted,"
        " 3 NATS nodes + PostgreSQL"
    )
    typer.echo(triage_cluster.report(result))
