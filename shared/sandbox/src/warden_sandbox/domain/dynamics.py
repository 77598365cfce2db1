"""How one service evolves over one tick: faults push metrics, healthy metrics settle back.

Every random draw comes from the world's seeded generator, so a seed replays the same history.
"""

from __future__ import annotations

from random import Random

from warden_sandbox.domain.service import Fault, ServiceState

LEAK_STEP = 4.0
OOM_LIMIT = 100.0
MEMORY_AFTER_OOM = 40.0
BAD_DEPLOY_ERROR_RATE = 0.25
BAD_DEPLOY_LATENCY_FACTOR = 4.0
BACKLOG_GROWTH_PER_MISSING_REPLICA = 300
DRAIN_PER_REPLICA = 400
DISK_STEP = 4.0
DISK_CEILING = 97.0
# Simulated days per tick: slow enough that an expiring certificate stays a live incident.
CERT_DAYS_PER_TICK = 0.02
# Faults re-log their symptom (and any injected log_text) this often so it stays in the tail.
SYMPTOM_EVERY = 5


def relax(value: float, target: float, keep: float, jitter: float, rng: Random) -> float:
    """Move `value` toward `target`, keeping `keep` of the gap, plus a little noise."""
    return target + (value - target) * keep + rng.uniform(-jitter, jitter)


def advance(svc: ServiceState, rng: Random, at: str) -> None:
    for fault in svc.faults:
        fault.ticks += 1
    crashed = _memory(svc, rng, at)
    _errors_and_latency(svc, rng, at)
    crashed = _crash_loop(svc, at) or crashed
    crashed = _unresponsive(svc, at) or crashed
    svc.healthy = 0 if crashed else 1
    _queue(svc, rng, at)
    _disk(svc, rng, at)
    _certificate(svc, at)
    for fault in svc.faults:
        if fault.log_text is not None and fault.ticks % SYMPTOM_EVERY == 0:
            svc.logs.append(fault.log_text)


def _memory(svc: ServiceState, rng: Random, at: str) -> bool:
    leak = svc.fault("memory_leak")
    if leak is None:
        svc.memory_pct = relax(svc.memory_pct, svc.baseline.memory_pct, 0.3, 1.0, rng)
        return False
    svc.memory_pct += LEAK_STEP + rng.uniform(-0.3, 0.3)
    if svc.memory_pct >= OOM_LIMIT:
        svc.restarts += 1
        svc.memory_pct = MEMORY_AFTER_OOM
        svc.log(at, "ERROR", "OOMKilled: container exceeded its memory limit (exit code 137); restarting")
        return True
    if leak.ticks % SYMPTOM_EVERY == 0:
        svc.log(at, "WARN", f"GC pressure: heap usage at {svc.memory_pct:.0f}% and not reclaimed after full GC")
    return False


def _errors_and_latency(svc: ServiceState, rng: Random, at: str) -> None:
    bad = svc.fault("bad_deploy")
    base = svc.baseline
    burst = svc.fault("error_burst")
    if bad is None and burst is not None:
        svc.error_rate = int(burst.params["percent"]) / 100 + rng.uniform(-0.01, 0.01)
        svc.latency_ms = base.latency_ms * 2 * rng.uniform(0.9, 1.1)
        if burst.ticks % SYMPTOM_EVERY == 1:
            svc.log(at, "ERROR", "rejecting requests: too many concurrent client connections (max clients reached)")
        return
    if bad is None:
        svc.error_rate = max(0.0, relax(svc.error_rate, base.error_rate, 0.1, 0.0008, rng))
        svc.latency_ms = max(1.0, relax(svc.latency_ms, base.latency_ms, 0.3, base.latency_ms * 0.05, rng))
        return
    svc.error_rate = BAD_DEPLOY_ERROR_RATE + rng.uniform(-0.02, 0.02)
    svc.latency_ms = base.latency_ms * BAD_DEPLOY_LATENCY_FACTOR * rng.uniform(0.9, 1.1)
    if bad.ticks == 1:
        svc.log(at, "ERROR", f"5xx spike after deploy {bad.params['version']}")
    elif bad.ticks % SYMPTOM_EVERY == 0:
        svc.log(
            at,
            "ERROR",
            f"HTTP 500 on POST /api/v1 (build {bad.params['version']}): NullReferenceException in RequestHandler",
        )


def _crash_loop(svc: ServiceState, at: str) -> bool:
    loop = svc.fault("crash_loop")
    if loop is None:
        return False
    svc.restarts += 1
    if loop.ticks % 3 == 1:
        svc.log(at, "ERROR", "Back-off restarting failed container (exit code 1); CrashLoopBackOff")
    return True


def _unresponsive(svc: ServiceState, at: str) -> bool:
    """Up but wedged: the readiness probe times out; nothing restarts it on its own."""
    wedged = svc.fault("unresponsive")
    if wedged is None:
        return False
    if wedged.ticks % SYMPTOM_EVERY == 1:
        svc.log(at, "WARN", "readiness probe failed: GET /healthz timed out after 5s")
    return True


def _queue(svc: ServiceState, rng: Random, at: str) -> None:
    backlog = svc.fault("queue_backlog")
    if backlog is None:
        svc.queue_depth = max(0, round(relax(svc.queue_depth, svc.baseline.queue_depth, 0.5, 2.0, rng)))
        return
    missing = max(0, int(backlog.params["required_replicas"]) - svc.replicas)
    if missing:
        svc.queue_depth += BACKLOG_GROWTH_PER_MISSING_REPLICA * missing
        if backlog.ticks % SYMPTOM_EVERY == 0:
            svc.log(at, "WARN", f"consumer lag growing: {svc.queue_depth} messages waiting, {svc.replicas} consumers")
        return
    svc.queue_depth = max(svc.baseline.queue_depth, svc.queue_depth - DRAIN_PER_REPLICA * svc.replicas)
    if svc.queue_depth <= svc.baseline.queue_depth:
        # Enough consumers caught up: the burst that caused the backlog is over.
        svc.remove_fault("queue_backlog")
        svc.log(at, "INFO", f"backlog drained by {svc.replicas} consumers")


def _disk(svc: ServiceState, rng: Random, at: str) -> None:
    pressure = svc.fault("disk_pressure")
    if pressure is None:
        svc.disk_pct = relax(svc.disk_pct, svc.baseline.disk_pct, 0.7, 0.2, rng)
        return
    svc.disk_pct = min(DISK_CEILING, svc.disk_pct + DISK_STEP)
    if pressure.ticks % SYMPTOM_EVERY == 0:
        svc.log(at, "WARN", f"volume /var/data at {svc.disk_pct:.0f}%: log shipping falling behind")


def _certificate(svc: ServiceState, at: str) -> None:
    expiring = svc.fault("cert_expiring")
    if expiring is None:
        return
    was_valid = svc.cert_days_left > 0
    svc.cert_days_left = max(0.0, svc.cert_days_left - CERT_DAYS_PER_TICK)
    if was_valid and svc.cert_days_left == 0:
        svc.log(at, "ERROR", "TLS certificate expired; clients fail the handshake")
    elif expiring.ticks % (SYMPTOM_EVERY * 8) == 1:
        svc.log(at, "WARN", f"TLS certificate expires in {int(svc.cert_days_left)} days")


def fault_started(svc: ServiceState, fault: Fault, at: str) -> None:
    """Immediate effects of injecting a fault, before the first tick evolves it."""
    if fault.kind in ("bad_deploy", "deploy"):
        svc.deploy(str(fault.params["version"]), at, "ci-pipeline")
        svc.log(at, "INFO", f"deployment {svc.version} rolled out by ci-pipeline (was {svc.previous_version})")
    elif fault.kind == "cert_expiring":
        svc.cert_days_left = float(fault.params["days"])
        svc.log(at, "WARN", f"TLS certificate expires in {int(svc.cert_days_left)} days")
    elif fault.kind in ("crash_loop", "unresponsive"):
        svc.healthy = 0
    if fault.log_text is not None:
        svc.logs.append(fault.log_text)
