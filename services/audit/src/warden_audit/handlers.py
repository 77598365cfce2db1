"""Thin handler: envelope in -> record it -> announce it on the SIEM stream."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from warden_bus.port import Bus, RetryLater
from warden_bus.runtime import Counters
from warden_contracts.envelope import Envelope, derived_id, envelope_for
from warden_contracts.events import AuditRecorded

from warden_audit.domain.recorder import Recorder

log = logging.getLogger("warden.audit")

RECORDED_TOPIC = "sre.audit.recorded.v1"
SOURCE = "warden/audit"


def recorded_envelope(record: Mapping[str, Any]) -> Envelope:
    """The SIEM event for a record; its id is derived, so re-announcing a record is de-duplicated."""
    payload = AuditRecorded(
        seq=record["seq"],
        record_hash=record["hash"],
        prev_hash=record["prev_hash"],
        message_id=record["message_id"],
        message_type=record["type"],
        correlationid=record["correlationid"],
        producer=record["source"],
        recorded_at=record["recorded_at"],
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


class AuditHandler:
    def __init__(self, recorder: Recorder, bus: Bus, counters: Counters) -> None:
        self._recorder = recorder
        self._bus = bus
        self._counters = counters

    async def __call__(self, envelope: Envelope) -> None:
        try:
            result = await self._recorder.record(envelope.model_dump(mode="json", exclude_none=True))
        except OSError as err:
            self._counters.inc("audit_store_errors")
            raise RetryLater(f"audit store unavailable: {err}") from err
        self._counters.inc("audit_duplicates" if result.duplicate else "audit_records")
        if result.record is None:
            return
        # A duplicate re-announces its record: the announcement may be what the crash lost.
        try:
            await self._bus.publish(recorded_envelope(result.record))
        except Exception:
            # The record is durable and the SIEM stream can be re-derived from the log: ack anyway.
            self._counters.inc("audit_announce_failures")
            log.exception(
                "could not publish %s for seq %s",
                RECORDED_TOPIC,
                result.record["seq"],
                extra={"correlationid": result.record["correlationid"]},
            )
