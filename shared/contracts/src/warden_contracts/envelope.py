"""CloudEvents 1.0 envelope shared by every message on the bus."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

T = TypeVar("T", bound=BaseModel)

SPEC_VERSION = "1.0"
# Bigger messages are refused before parsing: Service Bus Standard caps at 256 KB, so the
# embedded bus holds the same line to keep both adapters interchangeable.
MAX_MESSAGE_BYTES = 256 * 1024


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Structured-mode CloudEvent; `data` is validated against the topic's model by the reader."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    specversion: str = SPEC_VERSION
    id: str = Field(default_factory=new_id)
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    dataschema: str | None = None
    datacontenttype: str = "application/json"
    correlationid: str
    causationid: str | None = None
    data: dict[str, Any]
    # The payload as the bus adapter already validated it, so a handler does not validate twice;
    # kept with the dict it came from, so a copy with other `data` validates its own.
    _validated: tuple[dict[str, Any], BaseModel] | None = PrivateAttr(default=None)

    def payload(self, model: builtins.type[T]) -> T:
        known = self._validated
        if known is not None and known[0] is self.data and type(known[1]) is model:
            return known[1]
        return model.model_validate(self.data)

    def remember_payload(self, payload: BaseModel) -> None:
        """Record `payload` as `data` validated (by the reader that just did so)."""
        self._validated = (self.data, payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)


def envelope_for(
    topic: str,
    payload: BaseModel,
    *,
    source: str,
    correlationid: str,
    causationid: str | None = None,
    subject: str | None = None,
    id: str | None = None,
) -> Envelope:
    return Envelope(
        id=id or new_id(),
        source=source,
        type=topic,
        subject=subject,
        dataschema=f"urn:warden:schema:{topic}",
        correlationid=correlationid,
        causationid=causationid,
        data=payload.model_dump(mode="json"),
    )


def follow_up(
    cause: Envelope,
    topic: str,
    payload: BaseModel,
    *,
    source: str,
    subject: str | None = None,
    id: str | None = None,
) -> Envelope:
    """A message caused by `cause`: same correlation id, causation id = cause.id."""
    return envelope_for(
        topic,
        payload,
        source=source,
        correlationid=cause.correlationid,
        causationid=cause.id,
        subject=subject if subject is not None else cause.subject,
        id=id,
    )


_NAMESPACE = uuid.UUID("6f1d6c1e-9d7b-4e55-9a61-3b7f3f1b2a10")


def derived_id(cause_id: str, purpose: str) -> str:
    """Stable id for a message derived from another: redelivery of the cause re-publishes the same
    id, which the broker's de-duplication window then drops."""
    return str(uuid.uuid5(_NAMESPACE, f"{cause_id}/{purpose}"))
