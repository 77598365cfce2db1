"""The pull-batch consumer (`BatchConsumer`): every message handled once and in order across
batches, with the next fetch asked for while a full batch is handled; a batch that fails is
settled message by message, its neighbours untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from warden_bus.nats_bus import NatsBus
from warden_bus.port import SubscriptionOptions
from warden_contracts.envelope import Envelope
from warden_testkit.bus import eventually
from warden_testkit.contracts import alert

ALERT = "sre.alert.received.v1"


class Recorder:
    """A batch handler that is slow on every batch (so the next one is asked for meanwhile) and
    refuses the batches holding `poison_batch_of`, which then come one by one."""

    def __init__(self, poison_batch_of: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.alone: list[str] = []
        self._poison = poison_batch_of

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        ids = [e.id for e in envelopes]
        await asyncio.sleep(0.05)
        if self._poison in ids:
            raise RuntimeError("this batch is refused whole")
        self.batches.append(ids)

    async def __call__(self, envelope: Envelope) -> None:
        self.alone.append(envelope.id)

    def handled(self) -> list[str]:
        return [i for batch in self.batches for i in batch] + self.alone


async def test_full_batches_one_after_another_each_message_once_in_order(buses: dict[str, NatsBus]) -> None:
    sent = [alert(n, id_prefix="batched") for n in range(95)]
    await buses["ingest"].start()
    await buses["ingest"].publish_many(sent)  # stored before the consumer starts: full batches
    recorder = Recorder()
    buses["triage"].subscribe(ALERT, recorder, SubscriptionOptions(batch_size=10))
    await buses["triage"].start()
    await eventually(lambda: len(recorder.handled()) >= len(sent), timeout=60)
    await asyncio.sleep(0.3)  # nothing more arrives: no message was handled twice
    assert recorder.handled() == [e.id for e in sent]
    assert all(len(b) <= 10 for b in recorder.batches) and len(recorder.batches[0]) == 10


async def test_a_refused_batch_is_settled_alone_and_the_next_batches_go_on(buses: dict[str, NatsBus]) -> None:
    sent = [alert(n, id_prefix="refused") for n in range(40)]
    await buses["ingest"].start()
    await buses["ingest"].publish_many(sent)
    recorder = Recorder(poison_batch_of=sent[15].id)  # in the second batch of ten
    buses["triage"].subscribe(ALERT, recorder, SubscriptionOptions(batch_size=10))
    await buses["triage"].start()
    await eventually(lambda: len(recorder.handled()) >= len(sent), timeout=60)
    await asyncio.sleep(0.3)
    assert sorted(recorder.handled()) == sorted(e.id for e in sent)
    assert recorder.alone == [e.id for e in sent[10:20]]
