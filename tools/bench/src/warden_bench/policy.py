"""`warden bench policy`: how long the gate takes to decide, against the bus it runs on.

Same run, same embedded NATS server (operator mode, topology permissions), same identities:
  baseline  the policy identity's consumer republishes every plan at once as a fixed decision
            (bus in -> handler -> bus out, no gate), through the same consumer the gate's plans
            take (the bus's pull-batch loop, one message at a time), so the ratio is the gate's
            own cost and not a difference between two ways of consuming;
  pair      the same relay publishing what the gate publishes for these plans: the decision and
            an approval request (built once by the gate's own card code, so of its size) on their
            two streams, together (`publish_many`, as the gate's outbox relay does). The broker
            stores each with its own fsync, and a subscriber of the decision sees it only after
            both: what the gate's messages cost on the bus alone, so gate / pair is the gate's
            own work (rules, live reads, its SQLite transaction);
  gate      the real policy service decides (Cedar policy, live state, SQLite transaction with
            the outbox, approval request) and publishes its PolicyDecided;
  rules     the gate's rules alone, in process (no bus, no store): as the gate runs them (Cedar
            verdicts kept in a memo; these plans differ only in their target, which the shipped
            policy never names, so after the first decision the memo answers), and with every
            question put to Cedar (the cost of a decision whose facts are new).
Plans are sent one at a time; latency is publish -> PolicyDecided observed by a core subscriber
(`--durable`: by a pull consumer of the decisions' stream, as the audit, their one consumer, reads).
Review-mode plans on distinct targets, so every decision takes the same path (await approval).
Baseline, pair and gate take turns in `rounds` chunks (relay, pair, gate, relay, ...; each
chunk's first `warmup` rounds discarded), so a change of load on a shared machine falls on all;
each turn's own gate / relay ratio is printed beside the run's, so one run shows its spread."""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import nats
import typer
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for, new_id
from warden_contracts.events import (
    ApprovalRequested,
    DecisionOutcome,
    PlanProposed,
    PolicyDecided,
    ProposedAction,
)
from warden_contracts.topology import topic
from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.app import create_app
from warden_policy.domain.approval_card import approval_request
from warden_policy.domain.approvals import Approval
from warden_policy.domain.model import Controls, RunMode
from warden_policy.domain.rules import DecisionRequest, GateRules
from warden_policy.envelopes import APPROVAL_REQUESTED, DECIDED
from warden_policy.handlers import OneByOne
from warden_security.keys import load_or_create_private_key, public_path
from warden_testkit.bus import EmbeddedBroker, embedded_broker

from warden_bench.stats import percentile

# The embedded server's configuration (warden_bus.embedded_auth) and the policy store's pragmas.
DURABILITY = (
    "JetStream sync_interval always, file storage, 1 replica; policy SQLite WAL synchronous=FULL"
    " (outbox sent-marks NORMAL: a lost mark only republishes the same ids)"
)
PLANS = "sre.plan.proposed.v1"
GATE_TARGETS = 1_000_000  # the gate's plans are numbered from here, the relay's from 0


def _plan(i: int) -> Envelope:
    incident = f"inc-bench-{new_id()[:8]}"
    action = ProposedAction(
        action_id=f"act-{new_id()[:8]}",
        kind="rollback_deployment",
        target=f"bench-svc-{i}",
        params={"to_version": "v1.0"},
        rationale="error rate rose after the deploy",
        confidence=0.8,
    )
    payload = PlanProposed(
        incident_id=incident,
        plan_id=f"plan-{i}",
        incident_class="elevated_error_rate",
        environment="dev",
        runbook="bench",
        summary="bench",
        actions=[action],
    )
    return envelope_for(PLANS, payload, source="warden/planner", correlationid=incident)


async def _measure(broker: EmbeddedBroker, rounds: int, offset: int, *, durable: bool = False) -> list[float]:
    """Publish plans one by one; time each until its PolicyDecided arrives: at a core subscriber,
    or (`durable`) through a pull consumer of the decisions' stream, as the audit reads them."""
    waiting: dict[str, asyncio.Future[float]] = {}
    observer = await broker.connect("admin")

    def seen(data: bytes) -> None:
        incident = Envelope.from_bytes(data).data.get("incident_id")
        future = waiting.pop(str(incident), None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def on_decided(msg: Any) -> None:
        seen(msg.data)

    reader: asyncio.Task[None] | None = None
    if durable:
        pull = await observer.jetstream().pull_subscribe(
            DECIDED,
            stream=topic(DECIDED).stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.NEW, inactive_threshold=30, mem_storage=True
            ),
        )

        async def read() -> None:
            while True:
                try:
                    msgs = await pull.fetch(10, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    seen(msg.data)

        reader = asyncio.create_task(read())
    else:
        await observer.subscribe(DECIDED, cb=on_decided)
    planner = broker.bus("planner")
    await planner.start()
    samples: list[float] = []
    try:
        for i in range(rounds):
            plan = _plan(offset + i)
            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiting[plan.data["incident_id"]] = future
            sent = time.perf_counter()
            await planner.publish(plan)
            samples.append(await asyncio.wait_for(future, timeout=30) - sent)
    finally:
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await planner.stop()
        await observer.close()
    return samples


def approval_request_like_the_gates() -> ApprovalRequested:
    """What the gate asks a human for one of these plans, from its own card code (the pair
    relay re-addresses it per plan: building the card is the gate's work, not the bus's)."""
    plan = _plan(0).payload(PlanProposed)
    action = plan.actions[0]
    spec = default_catalog().get(action.kind)
    assert spec is not None
    now = datetime.now(UTC)
    approval = Approval(
        approval_id=new_id(),
        incident_id=plan.incident_id,
        correlationid=plan.incident_id,
        request_message_id=new_id(),
        action=action,
        action_hash="0" * 64,
        tier=1,
        environment=plan.environment,
        run_mode=RunMode.REVIEW,
        requested_by=plan.requested_by,
        summary=plan.summary,
        requested_at=now,
        expires_at=now + timedelta(minutes=15),
    )
    return approval_request(approval, spec, ["tier 1 in review mode: a human approves"])


async def _baseline(
    broker: EmbeddedBroker, rounds: int, offset: int = 0, *, pair: bool = False, durable: bool = False
) -> list[float]:
    relay = broker.bus("policy")
    request = approval_request_like_the_gates()

    async def echo(env: Envelope) -> None:
        plan = env.payload(PlanProposed)
        action = plan.actions[0]
        decided = PolicyDecided(
            incident_id=plan.incident_id,
            action_id=action.action_id,
            kind=action.kind,
            target=action.target,
            tier=1,
            run_mode="review",
            outcome=DecisionOutcome.AWAIT_APPROVAL,
        )
        decision = envelope_for(DECIDED, decided, source="warden/policy", correlationid=plan.incident_id)
        if not pair:
            await relay.publish(decision)
            return
        asked = request.model_copy(update={"incident_id": plan.incident_id, "approval_id": new_id()})
        await relay.publish_many(
            [decision, envelope_for(APPROVAL_REQUESTED, asked, source="warden/policy", correlationid=plan.incident_id)]
        )

    relay.subscribe(PLANS, OneByOne(echo))  # as the gate registers its plans handler
    await relay.start()
    try:
        return await _measure(broker, rounds, offset, durable=durable)
    finally:
        await relay.stop()


async def _gate(
    broker: EmbeddedBroker, root: Path, rounds: int, offset: int = GATE_TARGETS, *, durable: bool = False
) -> list[float]:
    load_or_create_private_key(root / "issuer" / "approver.pem")
    app = create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("policy"),
        data_dir=root / "policy",
        approver_issuer_pubkey=public_path(root / "issuer" / "approver.pem"),
        log_level="WARNING",
    )
    await app.start()
    try:
        return await _measure(broker, rounds, offset, durable=durable)
    finally:
        await app.stop()


def _rules(
    rounds: int, warmup: int = 0, policy: CedarPolicy | None = None, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """One decision per distinct target (same facts otherwise); `policy` None: as the gate runs
    it, with its verdict memo. `clock` time.thread_time: the CPU the decision took, without the
    time other processes on a loaded machine held the core."""
    rules = GateRules(default_catalog(), load_policy_config().plans, policy or CedarPolicy())
    samples = []
    for i in range(rounds + warmup):
        action = _plan(i).payload(PlanProposed).actions[0]
        request = DecisionRequest("inc", "elevated_error_rate", "dev", action, Controls(), datetime.now(UTC))
        start = clock()
        rules.decide(request)
        samples.append(clock() - start)
    return samples[warmup:]


def chunk_sizes(rounds: int, chunks: int) -> list[int]:
    """`rounds` split into `chunks` turns as even as they go (none empty)."""
    chunks = max(1, min(chunks, rounds))
    return [rounds // chunks + (i < rounds % chunks) for i in range(chunks)]


async def bench(rounds: int, warmup: int, chunks: int = 1, *, durable: bool = False) -> dict[str, list[float]]:
    baseline: list[float] = []
    pair: list[float] = []
    gate: list[float] = []
    with tempfile.TemporaryDirectory(prefix="warden-bench-policy-") as tmp:
        root = Path(tmp)
        async with embedded_broker(root / "nats") as broker:
            conf = await asyncio.to_thread((broker.server.data_dir / "nats-server.conf").read_text)
            if "sync_interval: always" not in conf:
                raise RuntimeError(f"the embedded server does not run with {DURABILITY!r}: no numbers reported")
            done = 0
            turn_ratios: list[float] = []
            for size in chunk_sizes(rounds, chunks):
                # Every gate turn reopens the one policy store under root/policy; its plans keep
                # naming targets no earlier turn used, so none is busy and every decision asks.
                relay_turn = (await _baseline(broker, size + warmup, offset=done, durable=durable))[warmup:]
                pair += (await _baseline(broker, size + warmup, offset=done, pair=True, durable=durable))[warmup:]
                gate_turn = (await _gate(broker, root, size + warmup, GATE_TARGETS + done, durable=durable))[warmup:]
                baseline += relay_turn
                gate += gate_turn
                # Each turn's own ratio: how far one run's pooled ratio is from its turns'.
                turn_ratios.append(statistics.median(gate_turn) / statistics.median(relay_turn))
                done += size + warmup
    return {
        "baseline": baseline,
        "pair": pair,
        "gate": gate,
        "rules": _rules(rounds, warmup),
        "gate_ratio_per_turn": turn_ratios,
    }


def _line(name: str, samples: list[float], base: list[float] | None = None, of: str = "baseline") -> str:
    p50, p99 = statistics.median(samples) * 1000, percentile(samples, 0.99) * 1000
    text = f"{name:<44} p50 {p50:8.3f} ms  p99 {p99:8.3f} ms  mean {statistics.fmean(samples) * 1000:8.3f} ms"
    if base:
        text += f"  ({p50 / (statistics.median(base) * 1000):.2f}x / {p99 / (percentile(base, 0.99) * 1000):.2f}x {of})"
    return text


def run(
    rounds: Annotated[int, typer.Option("--rounds", "-n", min=5, help="decisions measured per phase")] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="decisions discarded first per turn")] = 10,
    turns: Annotated[int, typer.Option(min=1, help="turns baseline and gate each take in a run")] = 4,
    durable: Annotated[
        bool, typer.Option(help="observe decisions through a pull consumer of their stream (as the audit does)")
    ] = False,
) -> None:
    """Decision latency p50/p99 of the policy gate vs a bare bus relay (and a relay of the gate's
    two messages) measured in the same run."""
    logging.getLogger("faststream").setLevel(logging.WARNING)
    results = asyncio.run(bench(rounds, warmup, turns, durable=durable))
    typer.echo(
        f"warden bench policy: {rounds} sequential decisions per phase in {len(chunk_sizes(rounds, turns))} turns"
        f" (relay, pair, gate, relay, ...), {warmup} warm-up discarded per turn"
    )
    typer.echo(f"durability: {DURABILITY} (baseline and gate on the same server and streams)")
    typer.echo(f"decisions observed by: {'a pull consumer of their stream' if durable else 'a core subscriber'}")
    typer.echo(_line("baseline: bus relay, no gate", results["baseline"]))
    typer.echo(_line("pair: relay of the gate's two messages", results["pair"], results["baseline"]))
    typer.echo(_line("gate: plan -> PolicyDecided (Cedar+SQLite)", results["gate"], results["baseline"]))
    per_turn = results["gate_ratio_per_turn"]
    typer.echo(f"{'gate / baseline p50, turn by turn':<44} {' '.join(f'{r:.2f}x' for r in per_turn)}")
    typer.echo(_line("gate against pair (its own work)", results["gate"], results["pair"], of="pair"))
    typer.echo(_line("rules: in process, Cedar verdict memo", results["rules"]))
    typer.echo(_line("rules: same, CPU time", _rules(rounds, warmup, clock=time.thread_time)))
    every = _rules(rounds, warmup, CedarPolicy(verdicts_cached=0))
    typer.echo(_line("rules: in process, every question to Cedar", every))
    every_cpu = _rules(rounds, warmup, CedarPolicy(verdicts_cached=0), clock=time.thread_time)
    typer.echo(_line("rules: same, CPU time", every_cpu))
