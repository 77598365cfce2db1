"""Exactly-once into the chain across a hard crash: the audit process is SIGKILLed while it is
recording a stream of messages, restarted, and the log ends with every message exactly once, in a
chain (and checkpoints) that verify."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from nats.js.api import ConsumerConfig
from warden_audit.adapters.ed25519_signer import trusted_key_files
from warden_audit.reader import read_records
from warden_audit.segments import list_segments
from warden_audit.verify import verify_log
from warden_bus.provision import consumer_config
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import Severity
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_testkit.contracts import incident_payload

TOPIC = "sre.incident.changed.v1"
MESSAGES = 400


def incident(n: int) -> Envelope:
    payload = incident_payload(f"inc-{n}", title=f"leak {n}", severity=Severity.SEV3, fingerprint=f"fp-{n}")
    return envelope_for(TOPIC, payload, source="warden/triage", correlationid=f"inc-{n}")


def line_count(audit_dir: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for _, p in list_segments(audit_dir)) if audit_dir.exists() else 0


def spawn(broker: EmbeddedBroker, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("audit")),
        "WARDEN_DATA_DIR": str(data_dir),
        "WARDEN_HTTP_PORT": "0",
        "WARDEN_SEGMENT_RECORDS": "64",  # several sealed segments, so a crash can land on a roll
        "WARDEN_CHECKPOINT_EVERY": "50",
        "WARDEN_LOG_LEVEL": "WARNING",
    }
    log = (data_dir / "audit-process.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "warden_audit"], env=env, stdout=log, stderr=log)


async def short_ack_wait(broker: EmbeddedBroker) -> None:
    """Redeliver what the dead process held after 2 s instead of the production 60 s."""
    nc = await broker.connect("admin")
    try:
        t = topo.topic(TOPIC)
        config: ConsumerConfig = consumer_config(t, "audit")
        config.ack_wait = 2.0
        await nc.jetstream().add_consumer(t.stream, config)  # same durable: an update
    finally:
        await nc.close()


async def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    audit_dir = tmp_path / "audit"
    await short_ack_wait(broker)
    sent = [incident(n) for n in range(MESSAGES)]
    triage = broker.bus("triage")
    await triage.start()
    process = spawn(broker, tmp_path)
    try:
        publishing = asyncio.gather(*(triage.publish(m) for m in sent))
        await eventually(lambda: line_count(audit_dir) >= 60, 60, what="the first records", interval=0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        at_crash = line_count(audit_dir)
        await publishing
        assert at_crash < MESSAGES, "the crash came too late to test anything"

        process = spawn(broker, tmp_path)
        expected = {m.id for m in sent}
        await eventually(
            lambda: line_count(audit_dir) >= MESSAGES, 90, what="every message recorded after restart", interval=0.02
        )
        await asyncio.sleep(2.5)  # one more ack-wait: a late redelivery must not add a record
        records = list(read_records(audit_dir))
        ids = [r["message_id"] for r in records]
        assert len(ids) == len(set(ids)), "a message was recorded twice"
        assert set(ids) == expected, "a message was lost"
        assert [r["seq"] for r in records] == list(range(1, MESSAGES + 1))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        await triage.stop()
    key = tmp_path / "keys" / "audit-signing.pub.pem"
    report = verify_log(audit_dir, trusted_key_files([key]))
    assert report.ok, report.problem
    assert report.last_checkpoint_seq == MESSAGES  # signed on the clean shutdown
