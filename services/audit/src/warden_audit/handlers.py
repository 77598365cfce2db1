"""Thin handler: envelope in -> attribute, separate personal text -> record -> announce to the SIEM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from warden_bus.port import BatchHandler, Bus, RetryLater
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, derived_id, envelope_for
from warden_contracts.events import AuditRecorded

from warden_audit.domain.attribution import TokenReader, attribute
from warden_audit.domain.chain import encode_record
from warden_audit.domain.checkpoint import Checkpoint
from warden_audit.domain.personal import PersonalVault, has_personal_fields, separate
from warden_audit.domain.recorder import Item, Recorded, Recorder
from warden_audit.domain.siem import siem_view

log = logging.getLogger("warden.audit")

RECORDED_TOPIC = "sre.audit.recorded.v1"
SOURCE = "warden/audit"
# The announcement carries the record so a SIEM can recompute its hash; above this it carries the
# chain fields only (the record stays one HTTP call away), keeping under the bus's message limit.
MAX_EMBEDDED_RECORD_BYTES = 192 * 1024


def recorded_envelope(record: Mapping[str, Any], checkpoint: Checkpoint | None = None) -> Envelope:
    """The SIEM event for a record; its id is derived, so re-announcing a record is de-duplicated."""
    view = siem_view(record)
    embedded = len(encode_record(record)) - 1 <= MAX_EMBEDDED_RECORD_BYTES  # the stored line: not encoded again
    payload = AuditRecorded(
        seq=record["seq"],
        record_hash=record["hash"],
        prev_hash=record["prev_hash"],
        message_id=record["message_id"],
        message_type=record["type"],
        correlationid=record["correlationid"],
        producer=(record.get("actor") or {}).get("identity") or record["source"],
        recorded_at=record["recorded_at"],
        causationid=record.get("causationid"),
        record=dict(record) if embedded else None,
        checkpoint=checkpoint.to_json() if checkpoint is not None else None,
        **view,
    )
    return envelope_for(
        RECORDED_TOPIC,
        payload,
        source=SOURCE,
        correlationid=record["correlationid"],
        causationid=record["message_id"],
        subject=record["subject"],
        id=derived_id(record["message_id"], "audit-recorded"),
    )


def checkpoint_envelope(record: Mapping[str, Any], checkpoint: Checkpoint) -> Envelope:
    """A checkpoint signed after `record` with none following (timer, shutdown): announced on its own id."""
    envelope = recorded_envelope(record, checkpoint)
    return envelope.model_copy(update={"id": derived_id(record["message_id"], f"audit-checkpoint-{checkpoint.seq}")})


class AuditHandler:
    def __init__(
        self,
        recorder: Recorder,
        bus: Bus,
        counters: Counters,
        *,
        vault: PersonalVault | None = None,
        read_token: TokenReader | None = None,
    ) -> None:
        self._recorder = recorder
        self._bus = bus
        self._counters = counters
        self._vault = vault
        self._read_token = read_token

    def for_topic(self, topic: str) -> BatchHandler:
        """The handler for one subscription: the topic is what the broker vouches for."""
        return _TopicHandler(self, topic)

    async def handle(self, topic: str, envelope: Envelope) -> None:
        item = await self._prepare(topic, envelope)
        try:
            result = await self._recorder.record(*item)
        except OSError as err:
            self._counters.inc("audit_store_errors")
            raise RetryLater(f"audit store unavailable: {err}") from err
        self._counters.inc("audit_duplicates" if result.duplicate else "audit_records")
        await self._announce(result)

    async def handle_batch(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        """A pull batch: one append and one fsync for all of it, then every record announced at once."""
        items = [await self._prepare(topic, envelope) for envelope in envelopes]
        try:
            results = await self._recorder.record_many(items)
        except OSError as err:
            self._counters.inc("audit_store_errors")
            raise RetryLater(f"audit store unavailable: {err}") from err
        for result in results:
            self._counters.inc("audit_duplicates" if result.duplicate else "audit_records")
        announced = await asyncio.gather(*(self._announce(result) for result in results), return_exceptions=True)
        failed = next((r for r in announced if isinstance(r, BaseException)), None)
        if failed is not None:
            # Settled one by one from here: each is found recorded and announced again (same ids).
            raise failed

    async def _prepare(self, topic: str, envelope: Envelope) -> Item:
        message = envelope.model_dump(mode="json", exclude_none=True)
        actor = attribute(topic, message, self._read_token)
        extra: dict[str, Any] = {"actor": actor}
        if self._vault is not None and has_personal_fields(topic, message):
            principal = (actor.get("principal") or {}).get("id")
            try:
                message, erasable = await asyncio.to_thread(separate, topic, message, self._vault, principal)
            except Exception as err:  # sqlite or disk: the value must be durable before its reference
                self._counters.inc("audit_store_errors")
                raise RetryLater(f"personal-data vault unavailable: {err}") from err
            if erasable:
                extra["erasable"] = erasable
        return message, extra

    async def _announce(self, result: Recorded) -> None:
        if result.record is None:
            return
        # A duplicate re-announces its record: the announcement may be what the crash lost.
        try:
            await self._bus.publish(recorded_envelope(result.record, self._recorder.last_checkpoint))
        except Exception as err:
            # Not acknowledged: the record is durable, but an acknowledgement that outlives the
            # failed publish (held by the client while the broker is down, sent on reconnect)
            # would leave it never announced. Redelivered, it is found recorded and announced
            # again under the same id, which the broker drops if the first did land.
            self._counters.inc("audit_announce_failures")
            log.warning(
                "could not publish %s for seq %s: %s",
                RECORDED_TOPIC,
                result.record["seq"],
                err,
                extra={"correlationid": result.record["correlationid"]},
            )
            raise RetryLater(f"audit record {result.record['seq']} not announced: {err}") from err


class _TopicHandler:
    """`AuditHandler` bound to one topic, one message or one pull batch at a time."""

    def __init__(self, audit: AuditHandler, topic: str) -> None:
        self._audit = audit
        self._topic = topic

    async def __call__(self, envelope: Envelope) -> None:
        await self._audit.handle(self._topic, envelope)

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        await self._audit.handle_batch(self._topic, envelopes)
