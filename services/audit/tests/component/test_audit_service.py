"""The audit service on a real embedded NATS server: records everything it consumes, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden_audit.app import create_app
from warden_audit.reader import read_records
from warden_audit.verify import verify_log
from warden_bus.runtime import ServiceRuntime
from warden_contracts.envelope import derived_id
from warden_contracts.events import AuditRecorded
from warden_testkit.bus import EmbeddedBroker, eventually
from warden_testkit.contracts import INCIDENT_TOPIC, incident


def records(audit_dir: Path) -> list[dict[str, Any]]:
    return list(read_records(audit_dir)) if audit_dir.exists() else []


async def started(broker: EmbeddedBroker, data_dir: Path) -> ServiceRuntime:
    app = create_app(nats_url=broker.url, nats_creds=broker.creds("audit"), data_dir=data_dir)
    await app.start()
    return app


async def test_records_bus_traffic_and_dead_letters_in_one_verified_chain(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    audit_dir = tmp_path / "audit"
    app = await started(broker, tmp_path)
    triage = broker.bus("triage")
    await triage.start()
    try:
        sent = [incident(1), incident(2)]
        for message in sent:
            await triage.publish(message)
        await broker.publish_raw("sre.alert.received.v1", b"{bad")
        await eventually(lambda: len(records(audit_dir)) >= 3)

        logged = records(audit_dir)
        assert [r["seq"] for r in logged] == [1, 2, 3]
        incidents = [r for r in logged if r["type"] == INCIDENT_TOPIC]
        assert [r["message_id"] for r in incidents] == [m.id for m in sent]
        assert all(r["source"] == "warden/triage" for r in incidents)
        assert incidents[0]["envelope"]["data"]["incident_id"] == "inc-1"
        [letter] = [r for r in logged if r["type"] == "sre.deadletter.v1"]
        assert letter["source"] == "warden/audit"
        assert letter["envelope"]["data"]["topic"] == "sre.alert.received.v1"
        assert letter["envelope"]["data"]["reason"].startswith("malformed envelope")
        assert letter["envelope"]["data"]["original_text"] == "{bad"
        report = verify_log(audit_dir)
        assert report.ok and report.records == 3

        announced = await broker.wait_for("sre.audit.recorded.v1", count=3)
        by_seq = {e.payload(AuditRecorded).seq: e for e in announced}
        assert sorted(by_seq) == [1, 2, 3]
        for record in logged:
            event = by_seq[record["seq"]]
            assert event.id == derived_id(record["message_id"], "audit-recorded")
            assert event.payload(AuditRecorded).record_hash == record["hash"]
            assert (event.correlationid, event.causationid) == (record["correlationid"], record["message_id"])
    finally:
        await triage.stop()
        await app.stop()


async def test_same_envelope_id_is_recorded_once_across_redelivery_and_restart(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    audit_dir = tmp_path / "audit"
    message = incident(7)
    app = await started(broker, tmp_path)
    try:
        await broker.publish_raw(INCIDENT_TOPIC, message.to_bytes(), msg_id="first")
        # A different broker de-dup id: the broker delivers it again, only audit can tell.
        await broker.publish_raw(INCIDENT_TOPIC, message.to_bytes(), msg_id="second")
        await eventually(lambda: app.counters.values.get("audit_duplicates") == 1)
        assert [r["message_id"] for r in records(audit_dir)] == [message.id]
    finally:
        await app.stop()

    restarted = await started(broker, tmp_path)
    try:
        await broker.publish_raw(INCIDENT_TOPIC, message.to_bytes(), msg_id="third")
        follower = incident(8)
        await broker.publish_raw(INCIDENT_TOPIC, follower.to_bytes(), msg_id="fourth")
        await eventually(
            lambda: len(records(audit_dir)) >= 2 and restarted.counters.values.get("audit_duplicates") == 1
        )
        logged = records(audit_dir)
        assert [(r["seq"], r["message_id"]) for r in logged] == [(1, message.id), (2, follower.id)]
        assert logged[1]["prev_hash"] == logged[0]["hash"]
        assert verify_log(audit_dir).ok
        await broker.wait_for("sre.audit.recorded.v1", count=2)
        announced = await broker.read_all("sre.audit.recorded.v1")
        record_ids = {derived_id(m.id, "audit-recorded") for m in (message, follower)}
        of_records = [e for e in announced if e.id in record_ids]
        assert sorted(e.payload(AuditRecorded).seq for e in of_records) == [1, 2]  # re-announcement de-duplicated
        # The rest is the shutdown checkpoint over seq 1, announced on its own id after the restart.
        others = [e.payload(AuditRecorded) for e in announced if e.id not in record_ids]
        assert all(o.checkpoint is not None and o.seq == 1 for o in others)
    finally:
        await restarted.stop()
