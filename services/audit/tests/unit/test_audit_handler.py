"""The handler: record, announce on the SIEM stream, redeliver a record whose announcement failed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import Recorder
from warden_audit.handlers import AuditHandler
from warden_audit.reader import read_records
from warden_bus.port import BatchHandler, Handler, RetryLater, SubscriptionOptions
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, derived_id, envelope_for
from warden_contracts.events import AuditRecorded, ControlChanged, ControlKind


class FakeBus:
    identity = "audit"
    healthy = True

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail = False

    async def publish(self, envelope: Envelope) -> None:
        if self.fail:
            raise TimeoutError("no PubAck")
        self.published.append(envelope)

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        raise AssertionError("not used here")

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def control(n: int) -> Envelope:
    payload = ControlChanged(
        kind=ControlKind.KILL_SWITCH, value="on", changed_by="ops@example.com", reason=f"drill {n}"
    )
    return envelope_for(
        "sre.control.changed.v1", payload, source="warden/operator", correlationid=f"ctl-{n}", causationid=f"cause-{n}"
    )


async def handler_on(audit_dir: Path, bus: FakeBus, counters: Counters) -> Handler:
    recorder = Recorder(LocalSegmentStore(audit_dir), lambda: datetime.now(UTC))
    await recorder.open()
    return AuditHandler(recorder, bus, counters).for_topic("sre.control.changed.v1")


async def test_records_and_announces_with_a_derived_id(tmp_path: Path) -> None:
    bus, counters = FakeBus(), Counters()
    handle = await handler_on(tmp_path, bus, counters)
    message = control(1)
    await handle(message)
    [record] = list(read_records(tmp_path))
    [announced] = bus.published
    event = announced.payload(AuditRecorded)
    assert announced.type == "sre.audit.recorded.v1" and announced.source == "warden/audit"
    assert announced.id == derived_id(message.id, "audit-recorded")
    assert (announced.correlationid, announced.causationid) == ("ctl-1", message.id)
    assert (event.seq, event.record_hash, event.prev_hash) == (1, record["hash"], "0" * 64)
    # The producer is the identity the broker lets publish controls, not the declared source.
    assert (event.message_id, event.message_type, event.producer) == (message.id, message.type, "operator")
    assert record["actor"]["declared_source"] == "warden/operator"
    assert record["envelope"]["data"]["reason"] == "drill 1"
    assert counters.values == {"audit_records": 1}


async def test_failed_announcement_keeps_the_record_and_asks_for_redelivery(tmp_path: Path) -> None:
    """Acknowledged, a record whose announcement failed would never reach the SIEM stream (the
    client sends a held acknowledgement on reconnect); redelivered, it is announced, not re-recorded."""
    bus, counters = FakeBus(), Counters()
    handle = await handler_on(tmp_path, bus, counters)
    message = control(1)
    bus.fail = True
    with pytest.raises(RetryLater, match="audit record 1 not announced"):
        await handle(message)
    bus.fail = False
    await handle(message)  # the redelivery
    assert [r["seq"] for r in read_records(tmp_path)] == [1]
    assert [e.id for e in bus.published] == [derived_id(message.id, "audit-recorded")]
    assert counters.values == {"audit_records": 1, "audit_announce_failures": 1, "audit_duplicates": 1}


async def test_a_batch_with_a_failed_announcement_is_not_acknowledged_whole(tmp_path: Path) -> None:
    bus, counters = FakeBus(), Counters()
    handle = await handler_on(tmp_path, bus, counters)
    assert isinstance(handle, BatchHandler)
    batch = [control(1), control(2)]
    bus.fail = True
    with pytest.raises(RetryLater):
        await handle.handle_batch(batch)
    bus.fail = False
    for message in batch:  # settled one by one, as the bus does after a failed batch
        await handle(message)
    assert [r["seq"] for r in read_records(tmp_path)] == [1, 2]
    assert sorted(e.payload(AuditRecorded).seq for e in bus.published) == [1, 2]
    assert counters.values["audit_announce_failures"] == 2


async def test_redelivery_adds_no_record_and_reannounces_the_same_id(tmp_path: Path) -> None:
    bus, counters = FakeBus(), Counters()
    handle = await handler_on(tmp_path, bus, counters)
    message = control(1)
    await handle(message)
    await handle(message)
    assert len(list(read_records(tmp_path))) == 1
    assert [e.id for e in bus.published] == [derived_id(message.id, "audit-recorded")] * 2
    assert counters.values == {"audit_records": 1, "audit_duplicates": 1}


async def test_store_failure_asks_for_redelivery(tmp_path: Path) -> None:
    bus, counters = FakeBus(), Counters()
    handle = await handler_on(tmp_path / "log", bus, counters)
    (tmp_path / "log" / "segments" / "000001.jsonl").mkdir()  # cannot be opened for append, even by root
    with pytest.raises(RetryLater, match="audit store unavailable"):
        await handle(control(1))
    assert bus.published == []
