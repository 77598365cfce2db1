"""`NatsBus.publish_many`: a group's publishes written together and their acks awaited together,
with the same guarantees as one `publish` each (every message stored once, ids de-duplicate)."""

from __future__ import annotations

from warden_bus.nats_bus import NatsBus
from warden_contracts.envelope import Envelope
from warden_testkit.bus import eventually
from warden_testkit.contracts import alert as sample_alert

ALERT = "sre.alert.received.v1"


def alert(n: int) -> Envelope:
    return sample_alert(n, id_prefix="alert")


async def test_a_group_is_stored_once_per_message_and_a_repeat_is_deduplicated(buses: dict[str, NatsBus]) -> None:
    received: list[str] = []

    async def on_alert(env: Envelope) -> None:
        received.append(env.id)

    buses["triage"].subscribe(ALERT, on_alert)
    for bus in buses.values():
        await bus.start()
    group = [alert(n) for n in range(120)]
    await buses["ingest"].publish_many(group)
    await eventually(lambda: len(received) >= 120, timeout=60)

    await buses["ingest"].publish_many([])  # nothing to send is not an error
    await buses["ingest"].publish_many(group)  # the source re-sent the whole group
    await buses["ingest"].publish_many([alert(999)])  # stored after the repeat, so consumed after it
    await eventually(lambda: "alert-999" in received, timeout=60)
    assert sorted(received) == sorted([e.id for e in group] + ["alert-999"])
