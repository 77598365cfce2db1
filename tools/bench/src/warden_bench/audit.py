"""`warden bench audit`: append throughput (fsync'd) and verification throughput of the audit log.

Append: the real recorder and local segment store, `record_many` of `--batch` records at a time
(what the service does with a pull batch), so each batch is one fsync; the envelopes are built
before timing starts. Then the same with `--producers` concurrent callers (the service's topics
each deliver their own pull batches): batches queued while an fsync is under way share the next.
Baseline in the same run, same disk, same bytes: writing the already-encoded lines to a file with
one fsync per batch. The ratio is the cost of the chain (hashing, canonical JSON, de-dup, Merkle) over bare durable I/O.

Verify: `verify_log` (every record's hash and link, the Merkle root at every checkpoint, each
checkpoint's Ed25519 signature) over the log just written, with `--jobs` worker processes (default:
one per CPU; the line says how many it used), then again in one process. Baseline: reading the
same segment files and SHA-256 over each line in one process, with nothing else checked. CPU
figures count the workers too (their rusage, once they have exited).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_audit.adapters.ed25519_signer import Ed25519Signer, trusted_keys
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import Recorder
from warden_audit.segments import list_segments
from warden_audit.verify import verify_log, verify_processes


def _envelope(n: int) -> dict[str, Any]:
    """About 700 bytes, like a policy decision with its reasons."""
    return {
        "id": f"bench-{n:09d}",
        "source": "warden/policy",
        "type": "sre.policy.decided.v1",
        "specversion": "1.0",
        "time": "2026-11-21T10:00:00Z",
        "correlationid": f"inc-{n // 20}",
        "causationid": f"plan-{n // 20}",
        "subject": "payments-api",
        "dataschema": "urn:warden:schema:sre.policy.decided.v1",
        "datacontenttype": "application/json",
        "data": {
            "incident_id": f"inc-{n // 20}",
            "action_id": f"act-{n}",
            "kind": "restart_service",
            "target": "payments-api",
            "tier": 1,
            "run_mode": "autonomous",
            "outcome": "execute",
            "reasons": ["tier 1 in dev runs autonomously", "no freeze", "blast radius 1 of 4 replicas"],
            "approvers": [],
        },
    }


class _CountingStore(LocalSegmentStore):
    """The real store; counts its appends (one fsync each) to show how many batches shared one."""

    appends = 0

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.appends += 1
        await super().append(records)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@dataclass
class Result:
    records: int
    seconds: float
    cpu_seconds: float = 0.0  # process CPU (all threads): steady when the machine is shared
    appends: int = 0  # store appends, i.e. fsyncs of the segment file

    @property
    def per_fsync(self) -> float:
        return self.records / self.appends if self.appends else 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else float("inf")

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.records * 1e6 if self.records else 0.0


def _processes(count: int) -> str:
    return f"{count} worker processes" if count > 1 else "one process: no workers"


def _per_cpu_second(result: Result) -> str:
    """What one core would sustain: steadier than wall rates when others share the machine."""
    return f"{1e6 / result.cpu_us:,.0f}" if result.cpu_us else "-"


async def _append_chain(
    folder: Path, records: int, batch: int, per_segment: int, signer: Ed25519Signer, producers: int = 1
) -> Result:
    store = _CountingStore(folder, per_segment)
    recorder = Recorder(store, _Clock(), signer=signer, checkpoint_every=10_000)
    await recorder.open()
    # Built before the clock starts: the bench times the chain, not making its input.
    batches = [[(_envelope(n), None) for n in range(f, min(f + batch, records))] for f in range(0, records, batch)]

    async def produce(mine: list[list[Any]]) -> None:
        for items in mine:
            await recorder.record_many(items)  # what the service does with one pull batch

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(produce(batches[p::producers]) for p in range(producers)))
    await recorder.close()
    return Result(records, time.perf_counter() - started, time.process_time() - cpu, store.appends)


def _append_raw(path: Path, source: Path, batch: int) -> Result:
    """The chain's own bytes, re-appended `batch` lines per fsync (read one segment at a time)."""
    elapsed, cpu, count = 0.0, 0.0, 0
    with path.open("ab") as handle:
        for _, segment in list_segments(source):
            lines = [line + b"\n" for line in segment.read_bytes().split(b"\n")[:-1]]
            started, cpu_started = time.perf_counter(), time.process_time()
            for first in range(0, len(lines), batch):
                handle.write(b"".join(lines[first : first + batch]))
                handle.flush()
                os.fsync(handle.fileno())
            elapsed += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            count += len(lines)
    return Result(count, elapsed, cpu)


def _hash_raw(folder: Path) -> Result:
    started, cpu, count = time.perf_counter(), time.process_time(), 0
    sha256 = hashlib.sha256
    for _, path in list_segments(folder):
        for line in path.read_bytes().split(b"\n")[:-1]:
            sha256(line).digest()
            count += 1
    return Result(count, time.perf_counter() - started, time.process_time() - cpu)


def _children_cpu() -> float:
    """CPU of the exited child processes this one has waited for (the verify workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_verify(folder: Path, signer: Ed25519Signer, jobs: int | None) -> tuple[Result, int]:
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    report = verify_log(folder, trusted_keys([signer.public_key]), jobs=jobs)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu + _children_cpu() - children
    if not report.ok:
        raise RuntimeError(f"the benchmark log did not verify: {report.problem}")
    return Result(report.records, elapsed, cpu), report.checkpoints


def run(
    records: Annotated[int, typer.Option(help="records to append and verify")] = 1_000_000,
    batch: Annotated[int, typer.Option(help="records per group commit (one fsync)")] = 100,
    per_segment: Annotated[int, typer.Option(help="records per sealed segment")] = 100_000,
    workdir: Annotated[Path | None, typer.Option(help="where to write (default: a temporary folder)")] = None,
    producers: Annotated[int, typer.Option(min=2, help="concurrent callers in the group-fsync run")] = 4,
    jobs: Annotated[int | None, typer.Option(min=1, help="verify worker processes (default: one per CPU)")] = None,
) -> None:
    """Audit append (fsync'd, group commit) and verification throughput, with same-run baselines."""
    root = Path(tempfile.mkdtemp(prefix="warden-bench-audit-", dir=workdir))
    say: Callable[[str], None] = typer.echo
    say("durability: one fsync per batch (os.fsync of the segment file), segment directory fsynced on create")
    try:
        signer = Ed25519Signer(Ed25519PrivateKey.generate())
        say(f"appending {records:,} records, {batch} per fsync, {per_segment:,} per segment, in {root}")
        chain = asyncio.run(_append_chain(root / "chain", records, batch, per_segment, signer))
        size = sum(p.stat().st_size for _, p in list_segments(root / "chain"))
        raw = _append_raw(root / "raw.jsonl", root / "chain", batch)
        grouped = asyncio.run(_append_chain(root / "grouped", records, batch, per_segment, signer, producers))
        shutil.rmtree(root / "grouped")
        processes = verify_processes(root / "chain", jobs)
        verified, checkpoints = _timed_verify(root / "chain", signer, jobs)
        alone, _ = _timed_verify(root / "chain", signer, 1)
        hashed = _hash_raw(root / "chain")
        say(f"log: {size / 1e6:,.1f} MB, {size / records:,.0f} bytes/record, {checkpoints} signed checkpoints")
        say(
            f"append  chain {chain.rate:>12,.0f} rec/s   raw fsync'd append {raw.rate:>12,.0f} rec/s"
            f"   ratio {chain.rate / raw.rate:.3f}"
        )
        say(
            f"append  group fsync, {producers} producers {grouped.rate:>10,.0f} rec/s"
            f"   ratio {grouped.rate / raw.rate:.3f} raw, {grouped.rate / chain.rate:.2f}x one producer;"
            f" {grouped.per_fsync:.0f} records per fsync (one producer: {chain.per_fsync:.0f})"
        )
        say(
            f"verify  chain {verified.rate:>12,.0f} rec/s   raw sha256 of lines {hashed.rate:>12,.0f} rec/s"
            f"   ratio {verified.rate / hashed.rate:.3f}"
            f"   ({_processes(processes)}, {os.cpu_count()} CPUs)"
        )
        say(
            f"verify  in one process {alone.rate:>10,.0f} rec/s   {_processes(processes)}: "
            f"{verified.rate / alone.rate:.2f}x that (wall)"
        )
        say(
            f"cpu     append chain {chain.cpu_us:.1f} us/rec ({grouped.cpu_us:.1f} grouped) vs raw {raw.cpu_us:.1f}; "
            f"verify {verified.cpu_us:.1f} us/rec (all processes; one process {alone.cpu_us:.1f})"
            f" vs sha256 {hashed.cpu_us:.1f} (steady on a shared CPU)"
        )
        say(
            f"cpu     rec/s of CPU: append {_per_cpu_second(chain)} ({_per_cpu_second(grouped)} grouped),"
            f" verify {_per_cpu_second(verified)}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
