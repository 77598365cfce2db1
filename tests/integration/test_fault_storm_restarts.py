"""Faults under load on the whole embedded stack: `kill -9` of NATS, of policy or of audit while an
alert storm and a few remediations are in flight, then a restart of what died (NATS on the same port
and JetStream store, a service with its same command, port and data) — and nothing lost, nothing
done twice.

The stack is the one `warden up` runs (`warden_cli.launcher.EmbeddedStack`: same provisioning,
identities, environment and commands; `EmbeddedStack.restart` starts a dead process again the way
`start` did). The storm is Alertmanager groups POSTed to triage's webhook by senders that honour
429/503 + Retry-After as Alertmanager does; only alerts the webhook answered 202 for count as
accepted. Remediations: a queue backlog on each of a few dev services, which an autonomous plan
scales out (tier 1, no human), so each is exactly one action on the sandbox.

After the fault and the restart, once everything has settled:
- every accepted alert is attached to an incident exactly once (triage) and recorded exactly once
  (audit); no message is recorded twice at all;
- one incident per problem, one `opened` per incident;
- one approved action per faulted service, one `started` and one `verified` report per action, and
  the sandbox scaled each service exactly once;
- `warden audit verify` exits 0.

The durable consumers' ack wait is cut to a few seconds so what a dead process (or a dead broker)
held comes back quickly; that makes redelivery more aggressive, never safer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from warden_audit.reader import read_records
from warden_audit.segments import list_segments
from warden_bus.provision import consumer_config
from warden_cli.launcher import EmbeddedStack, StackOptions
from warden_cli.layout import Layout
from warden_cli.operations import approval_requests, decide
from warden_contracts import topology as topo
from warden_contracts.envelope import derived_id
from warden_contracts.events import ApprovalDecision
from warden_testkit.bus import EmbeddedBroker, eventually, until
from warden_testkit.remediation import autonomous_policy_config
from warden_testkit.triage import storm

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ALERTS = 800  # 20 problems x 4 pods x 10 episodes
PROBLEMS = 20
FAULTED = tuple(f"queue-svc-{n}" for n in range(4))  # dev: an autonomous plan scales them out
PROD = "queue-prod-0"  # prod: always Review, one on-call approval releases the tier-1 scale-out
ENVIRONMENT = dict.fromkeys(FAULTED, "dev") | {PROD: "prod"}
ACK_WAIT_S = 5.0
SENDERS = 4
SETTLE_S = 2 * ACK_WAIT_S  # quiet for two ack waits: a late redelivery must change nothing
TICKETED, APPROVED, PENDING = "sre.elevation.ticketed.v1", "sre.action.approved.v1", "sre.action.pending.v1"
RECORDED, DECIDED = "sre.audit.recorded.v1", "sre.approval.decided.v1"


def estate(path: Path) -> Path:
    services = [
        {
            "name": name,
            "environment": environment,
            "resource_group": "rg-fault",
            "provider": "Microsoft.App/containerApps",
            "version": "v1.0.0",
            "previous_version": "v0.9.0",
            "replicas": 2,
            "dependencies": [],
            "cert_days_left": 160,
            "baseline": {"queue_depth": 20},
        }
        for name, environment in ENVIRONMENT.items()
    ]
    path.write_text(yaml.safe_dump({"subscription_id": "00000000-0000-0000-0000-000000000000", "services": services}))
    return path


def service_catalog(path: Path) -> Path:
    """Triage knows the faulted services as the estate would map them: an unmapped one is handed to a
    human at once (issue 14), and these are meant to be scaled out by an autonomous plan."""
    entries = [
        {"name": name, "environment": environment, "owner": "team-fault", "commander_channel": "#inc-fault"}
        for name, environment in ENVIRONMENT.items()
    ]
    path.write_text(yaml.safe_dump({"services": entries}))
    return path


@dataclass
class Storm:
    """Alertmanager-like senders: a group answered 429/503 is sent again after Retry-After."""

    url: str
    token: str
    groups: list[dict[str, Any]]
    accepted: dict[str, str] = field(default_factory=dict)  # message id -> alert id, from 202s only
    refused: Counter[int] = field(default_factory=Counter)  # status -> answers that were not 202
    sent_groups: int = 0

    async def run(self) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for group in self.groups:
            queue.put_nowait(group)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await asyncio.gather(*(self._sender(http, queue, headers) for _ in range(SENDERS)))

    async def _sender(self, http: aiohttp.ClientSession, queue: asyncio.Queue[dict[str, Any]], headers: Any) -> None:
        while not queue.empty():
            body = json.dumps(queue.get_nowait()).encode()
            while True:
                try:
                    async with http.post(self.url, data=body, headers=headers) as resp:
                        status, answer = resp.status, await resp.json(content_type=None)
                        retry_after = float(resp.headers.get("Retry-After", "1"))
                except (aiohttp.ClientError, TimeoutError):
                    self.refused[0] += 1  # no answer at all: never accepted, send again
                    await asyncio.sleep(0.5)
                    continue
                if status == 202:
                    self.accepted.update({a["message_id"]: a["alert_id"] for a in answer["accepted"]})
                    self.sent_groups += 1
                    break
                self.refused[status] += 1
                assert status in {429, 503}, (status, answer)
                await asyncio.sleep(retry_after)


@dataclass
class Harness:
    stack: EmbeddedStack
    broker: EmbeddedBroker  # admin reads of the streams, on the stack's own server
    storm: Storm

    @property
    def layout(self) -> Layout:
        return self.stack.layout

    async def inject_backlog(self, service: str) -> None:
        secret = self.layout.secrets()["sandbox_admin_secret"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.stack.sandbox_url}/v1/admin/faults",
                # One replica short: the backlog grows slowly enough that the scale-out (x2) still
                # drains it inside the verification window after minutes of queueing behind a
                # dead broker and the other, serialised, actions.
                json={"service": service, "kind": "queue_backlog", "required_replicas": 3},
                headers={"X-Sandbox-Admin": secret},
            ) as resp,
        ):
            assert resp.status < 300, await resp.text()

    async def scale_outs(self, service: str) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.stack.sandbox_url}/v1/services/{service}/logs", params={"limit": "1000"}) as resp,
        ):
            body = await resp.json()
        return sum(" scaled from " in line for line in body["lines"])

    def audit_records(self) -> list[dict[str, Any]]:
        try:
            return list(read_records(self.layout.audit_dir))
        except (FileNotFoundError, ValueError, sqlite3.OperationalError):
            return []  # mid-write or not created yet: asked again shortly

    def audited_alerts(self) -> Counter[str]:
        return Counter(
            r["message_id"] for r in self.audit_records() if r["envelope"]["type"] == "sre.alert.received.v1"
        )

    def verified_services(self) -> set[str]:
        return {
            r["envelope"]["data"].get("target", "")
            for r in self.audit_records()
            if r["envelope"]["type"] == "sre.action.reported.v1" and r["envelope"]["data"]["status"] == "verified"
        }

    def triage_processed(self) -> set[str]:
        db = self.layout.root / "state" / "triage.db"
        if not db.exists():
            return set()
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
                return {m for (m,) in conn.execute("SELECT message_id FROM processed")}
        except sqlite3.OperationalError:
            return set()


async def shorten_ack_waits(broker: EmbeddedBroker) -> None:
    nc = await broker.connect("admin")
    try:
        js = nc.jetstream()
        for t in topo.TOPICS:
            for durable in (*t.consumers, *t.elevated_consumers):
                config = consumer_config(t, durable)
                config.ack_wait = ACK_WAIT_S
                await js.add_consumer(t.stream, config)  # same durable: an update
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def running_stack(tmp_path: Path) -> AsyncIterator[Harness]:
    layout = Layout(tmp_path / "stack")
    options = StackOptions(
        log_level="WARNING",
        stop_timeout_s=10.0,
        health_timeout_s=120.0,
        extra_env={
            "sandbox": {"WARDEN_SANDBOX_ESTATE": str(estate(tmp_path / "estate.yaml"))},
            "policy": {"WARDEN_POLICY_CONFIG_DIR": str(autonomous_policy_config(tmp_path / "policy-config"))},
            "triage": {"WARDEN_SERVICE_CATALOG": str(service_catalog(tmp_path / "service-catalog.yaml"))},
        },
    )
    stack = EmbeddedStack(layout, options)
    try:
        await stack.start()
        assert stack.nats
        broker = EmbeddedBroker(stack.nats)
        await shorten_ack_waits(broker)
        plan = storm(alerts=ALERTS, problems=PROBLEMS, resources_per_problem=4, group_size=50)
        url = stack.webhook_url.replace("/webhooks/azure-monitor", "/webhooks/prometheus")
        yield Harness(stack, broker, Storm(url, layout.secrets()["webhook_token"], plan.groups))
    finally:
        await stack.stop()  # every child, then NATS, by PID; SIGKILL after the stop deadline


def kill_9(stack: EmbeddedStack, name: str) -> int:
    popen = stack.watched()[name]
    popen.kill()  # a no-op when the moment already killed it
    popen.wait(timeout=10)
    return popen.pid


def audit_lines(audit_dir: Path) -> int:
    """Records written so far, cheaply (no parsing): the segments' line count."""
    return sum(p.read_bytes().count(b"\n") for _, p in list_segments(audit_dir)) if audit_dir.exists() else 0


def when(condition: Callable[[Harness], bool], what: str) -> Moment:
    """The moment `condition` holds, while the storm is still being sent."""

    async def moment(h: Harness, sending: asyncio.Task[None]) -> None:
        await eventually(lambda: condition(h) or sending.done(), 300, what=what, interval=0.05)
        assert not sending.done(), f"the storm ended before {what}"

    return moment


def while_audit_has_work(records: int) -> Moment:
    """Once audit has written `records`, whether or not the storm is still being sent: on a quiet
    machine the storm's 16 posts are all answered before audit is that far, and what audit still
    has to record (the storm's alerts, incidents, plans) is what its kill must not lose. The test
    checks afterwards that audit did have work left (more records after the restart than at it)."""

    async def moment(h: Harness, sending: asyncio.Task[None]) -> None:
        await eventually(
            lambda: audit_lines(h.layout.audit_dir) >= records,
            300,
            what=f"{records} audit records written",
            interval=0.05,
        )

    return moment


def approval_request_for(h: Harness, target: str) -> str | None:
    for approval_id, entry in approval_requests(h.layout).items():
        if entry["request"]["action"]["target"] == target:
            return approval_id
    return None


def approve_then_kill(target: str, victim: str) -> Moment:
    """Once policy asks for approval of `target`'s action, alice (on call) approves it from the CLI
    path, and `victim` is killed the instant her decision reaches the broker."""
    kill_on_decision = on_first(DECIDED, victim)

    async def moment(h: Harness, sending: asyncio.Task[None]) -> None:
        found: list[str] = []

        def requested() -> bool:
            found[:] = [a for a in [approval_request_for(h, target)] if a]
            return bool(found)

        await eventually(requested, 300, what=f"an approval request for {target}", interval=0.5)
        killing: asyncio.Future[None] = asyncio.ensure_future(kill_on_decision(h, sending))
        await asyncio.sleep(0.5)  # the watcher subscribes first
        await decide(h.layout, found[0], ApprovalDecision.APPROVE, "alice", "fault test: scale it out")
        await killing

    return moment


def on_first(topic: str, victim: str) -> Moment:
    """The instant the first message on `topic` reaches the broker, SIGKILL `victim` from the
    subscription callback: it dies between its publishes (the rest are in its outbox)."""

    async def moment(h: Harness, sending: asyncio.Task[None]) -> None:
        fired = asyncio.Event()
        pid = h.stack.watched()[victim].pid

        async def kill(_msg: Any) -> None:
            if not fired.is_set():
                os.kill(pid, signal.SIGKILL)
                fired.set()

        watcher = await h.broker.connect("admin")
        try:
            await watcher.subscribe(topic, cb=kill)
            await fired.wait()
        finally:
            with contextlib.suppress(Exception):  # the victim may be the broker itself
                await watcher.close()

    return moment


Moment = Callable[[Harness, "asyncio.Task[None]"], Awaitable[None]]


async def storm_with_fault(
    h: Harness, victim: str, moment: Moment, *, down_s: float = 2.0, faulted: tuple[str, ...] = FAULTED
) -> dict[str, Any]:
    """Run the storm and the remediations, `kill -9` the victim when `moment` returns (it may have
    killed it itself, at a precise point), restart it after `down_s`, then wait until every
    accepted alert and every remediation has gone through and the stack is quiet."""
    half = len(faulted) // 2
    for service in faulted[:half]:
        await h.inject_backlog(service)
    sending = asyncio.create_task(h.storm.run())
    try:
        await asyncio.wait_for(moment(h, sending), 300)
        killed_pid = kill_9(h.stack, victim)
        at_kill = {"accepted": len(h.storm.accepted), "audit_lines": audit_lines(h.layout.audit_dir)}
        if victim != "nats":  # what policy had released when it died: the rest is its outbox's job
            at_kill |= {t: len(await h.broker.read_all(t)) for t in (TICKETED, APPROVED, PENDING)}
        for service in faulted[half:]:  # work that arrives while the victim is dead
            await h.inject_backlog(service)
        await asyncio.sleep(down_s)
        await h.stack.restart(victim)
        await asyncio.wait_for(sending, 600)
    finally:
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
    accepted = set(h.storm.accepted)
    await eventually(lambda: accepted <= h.triage_processed(), 300, what="triage applying every accepted alert")
    await eventually(lambda: accepted <= set(h.audited_alerts()), 300, what="audit recording every accepted alert")
    await eventually(lambda: set(faulted) <= h.verified_services(), 300, what="every scale-out verified", interval=0.5)
    await settle(h)
    scale_outs = {service: await h.scale_outs(service) for service in faulted}
    # Only the executor consumes signed actions, so audit never sees them: read the stream.
    approved = [e.data for e in await h.broker.read_all(APPROVED)]
    released = {t: len(await h.broker.read_all(t)) for t in (TICKETED, APPROVED, PENDING)}
    logged = {r["seq"]: r["message_id"] for r in h.audit_records()}  # before the stream: no false gaps
    siem = Counter(
        e.data["seq"]
        for e in await h.broker.read_all(RECORDED)
        if e.id == derived_id(e.data["message_id"], "audit-recorded")  # not a checkpoint-only event
    )
    return {
        "faulted": faulted,
        "approved": approved,
        "released": released,
        "siem_missing": sorted(set(logged) - set(siem)),
        "siem_duplicates": sum(n - 1 for n in siem.values() if n > 1),
        "victim": victim,
        "killed_pid": killed_pid,
        "at_kill": at_kill,
        "refused": dict(h.storm.refused),
        "scale_outs": scale_outs,
    }


async def settle(h: Harness) -> None:
    """Until the audit log stops growing for SETTLE_S: redeliveries and relays have happened."""
    last, stable_since = -1, asyncio.get_running_loop().time()

    def quiet() -> bool:
        nonlocal last, stable_since
        now, count = asyncio.get_running_loop().time(), len(h.audit_records())
        if count != last:
            last, stable_since = count, now
        return now - stable_since >= SETTLE_S

    assert await until(quiet, 300, interval=0.5), "the audit log never stopped growing"


async def outcome(h: Harness, fault: dict[str, Any]) -> dict[str, Any]:
    """Everything the test asserts, gathered after the stack is stopped; also printed as one row of
    the fault table."""
    root = h.layout.root
    with contextlib.closing(sqlite3.connect(f"file:{root / 'state' / 'triage.db'}?mode=ro", uri=True)) as conn:
        attached = Counter(dict(conn.execute("SELECT alert_id, COUNT(*) FROM alerts GROUP BY alert_id").fetchall()))
        incidents = dict(conn.execute("SELECT id, service FROM incidents").fetchall())
    records = h.audit_records()
    by_id = Counter(r["message_id"] for r in records)
    envelopes = [r["envelope"] for r in records]
    opened = Counter(
        e["data"]["incident_id"]
        for e in envelopes
        if e["type"] == "sre.incident.changed.v1" and e["data"]["change"] == "opened"
    )
    approved = fault["approved"]
    reports = Counter(
        (e["data"]["action_id"], e["data"]["status"]) for e in envelopes if e["type"] == "sre.action.reported.v1"
    )
    verify = subprocess.run(
        [sys.executable, "-m", "warden_cli", "audit", "verify", "--data-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    accepted = h.storm.accepted
    return fault | {
        "accepted": len(accepted),
        "recorded": sum(1 for m in accepted if by_id[m] >= 1),
        "attached": sum(1 for a in accepted.values() if attached[a] >= 1),
        "duplicate_records": sum(n - 1 for n in by_id.values() if n > 1),
        "duplicate_attachments": sum(n - 1 for n in attached.values() if n > 1),
        "incidents": len(incidents),
        "incidents_by_service": Counter(incidents.values()),
        "opened": opened,
        "approved_by_target": Counter(a["target"] for a in approved),
        "approved_ids": Counter(a["action_id"] for a in approved),
        "reports": reports,
        "verify_exit": verify.returncode,
        "verify_output": (verify.stdout + verify.stderr).strip(),
    }


def check(result: dict[str, Any]) -> None:
    row = {k: result[k] for k in ("victim", "accepted", "recorded", "attached", "duplicate_records", "incidents")}
    extra = {k: result[k] for k in ("refused", "at_kill", "released", "siem_missing", "verify_exit")}
    print("fault table row:", json.dumps(row | extra))
    assert result["accepted"] == ALERTS, "the storm did not get every group accepted in the end"
    assert result["recorded"] == ALERTS and result["attached"] == ALERTS, "an accepted alert was lost"
    assert result["duplicate_records"] == 0, "audit recorded a message twice"
    assert result["duplicate_attachments"] == 0, "triage attached an alert twice"
    by_service = result["incidents_by_service"]
    assert all(n == 1 for n in by_service.values()), f"a problem opened more than one incident: {by_service}"
    faulted = result["faulted"]
    assert result["incidents"] == PROBLEMS + len(faulted), by_service
    assert all(n == 1 for n in result["opened"].values()), result["opened"]
    assert len(result["opened"]) == result["incidents"], "an incident was never announced, or twice"
    assert result["approved_by_target"] == dict.fromkeys(faulted, 1), result["approved_by_target"]
    for action_id in result["approved_ids"]:
        assert result["reports"][(action_id, "started")] == 1, (action_id, result["reports"])
        assert result["reports"][(action_id, "verified")] == 1, (action_id, result["reports"])
    assert result["scale_outs"] == dict.fromkeys(faulted, 1), f"a service scaled twice or never: {result['scale_outs']}"
    assert result["siem_missing"] == [], f"records never announced on the SIEM stream: {result['siem_missing']}"
    assert result["siem_duplicates"] == 0, "a record was announced twice"
    assert result["verify_exit"] == 0, result["verify_output"]


async def test_kill_9_nats_mid_storm_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as h:
        fault = await storm_with_fault(
            h, "nats", when(lambda h: len(h.storm.accepted) >= ALERTS * 0.4, "40% of the storm accepted")
        )
        assert fault["refused"].get(503, 0) + fault["refused"].get(0, 0) > 0, "the webhook never saw the outage"
    check(await outcome(h, fault))


async def test_kill_9_nats_mid_remediation_for_longer_than_publish_retries(tmp_path: Path) -> None:
    """The broker dies as policy releases its first action and stays down past every service's
    publish retries (4 tries of up to 5 s): whatever was half done must finish after the restart."""
    async with running_stack(tmp_path) as h:
        fault = await storm_with_fault(h, "nats", on_first(TICKETED, "nats"), down_s=30.0)
    check(await outcome(h, fault))


async def test_kill_9_policy_between_its_publishes_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as h:
        # Its first elevation ticket is on the broker; the signed action and the doorbell are not yet.
        fault = await storm_with_fault(h, "policy", on_first(TICKETED, "policy"))
    check(await outcome(h, fault))


async def test_kill_9_audit_mid_storm_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as h:
        fault = await storm_with_fault(h, "audit", while_audit_has_work(200))
    assert audit_lines(h.layout.audit_dir) > fault["at_kill"]["audit_lines"], "audit had nothing left when killed"
    check(await outcome(h, fault))


async def test_kill_9_policy_as_an_approval_arrives_releases_the_action_once(tmp_path: Path) -> None:
    """A prod backlog waits for approval (Review); policy dies the moment alice's approval is on the
    broker, with dev scale-outs arriving while it is dead: after the restart the approved action
    runs exactly once."""
    async with running_stack(tmp_path) as h:
        moment = approve_then_kill(PROD, "policy")
        fault = await storm_with_fault(h, "policy", moment, faulted=(PROD, *FAULTED))
    check(await outcome(h, fault))
