"""Triage commits a whole pull batch in one transaction and acks after it: SIGKILL the process
while a stream of alerts is being applied, restart it, and every alert is applied exactly once
(one attachment each, one `opened` event for the incident), nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from nats.js.api import ConsumerConfig
from warden_bus.provision import consumer_config
from warden_contracts import topology as topo
from warden_contracts.events import IncidentChanged
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_testkit.triage import memory_alert
from warden_triage.adapters.store_inspection import processed_times
from warden_triage.adapters.webhook import ALERT_TOPIC, alert_envelope

ALERTS = 1500


def applied(db: Path) -> set[str]:
    try:
        return set(processed_times(db))
    except sqlite3.OperationalError:  # the process is still creating its schema
        return set()


def spawn(broker: EmbeddedBroker, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WARDEN_NATS_URL": broker.url,
        "WARDEN_NATS_CREDS": str(broker.creds("triage")),
        "WARDEN_DATA_DIR": str(data_dir),
        "WARDEN_HTTP_PORT": "0",
        "WARDEN_WEBHOOK_TOKEN": "crash-test-token",
        "WARDEN_LOG_LEVEL": "WARNING",
    }
    log = (data_dir / "triage-process.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "warden_triage"], env=env, stdout=log, stderr=log)


async def short_ack_wait(broker: EmbeddedBroker) -> None:
    """Redeliver what the dead process held after 2 s instead of the production ack wait."""
    nc = await broker.connect("admin")
    try:
        t = topo.topic(ALERT_TOPIC)
        config: ConsumerConfig = consumer_config(t, "triage")
        config.ack_wait = 2.0
        await nc.jetstream().add_consumer(t.stream, config)  # same durable: an update
    finally:
        await nc.close()


async def test_sigkill_mid_batch_applies_every_alert_exactly_once(broker: EmbeddedBroker, tmp_path: Path) -> None:
    db = tmp_path / "state" / "triage.db"
    await short_ack_wait(broker)
    sent = [alert_envelope(memory_alert(f"/subscriptions/s/alerts/crash-{n}")) for n in range(ALERTS)]
    source = broker.bus("triage")
    await source.start()
    process = spawn(broker, tmp_path)
    try:
        publishing = asyncio.gather(*(source.publish(e) for e in sent))
        await eventually(lambda: len(applied(db)) >= 200, 60, what="the first batches", interval=0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        at_crash = len(applied(db))
        await publishing
        assert at_crash < ALERTS, "the crash came too late to test anything"

        process = spawn(broker, tmp_path)
        expected = {e.id for e in sent}
        await eventually(lambda: applied(db) >= expected, 120, what="every alert applied", interval=0.1)
        await asyncio.sleep(2.5)  # one more ack wait: a late redelivery must change nothing
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        await source.stop()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        attached = conn.execute("SELECT alert_id, COUNT(*) FROM alerts GROUP BY alert_id").fetchall()
        (incident_count,) = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()
        (alert_count,) = conn.execute("SELECT alert_count FROM incidents").fetchone()
    assert len(attached) == ALERTS and all(n == 1 for _, n in attached), "an alert was lost or attached twice"
    assert incident_count == 1 and alert_count == ALERTS, "a replayed batch counted alerts again"
    changes = [e.payload(IncidentChanged) for e in await broker.read_all("sre.incident.changed.v1")]
    assert [c.change.value for c in changes].count("opened") == 1
