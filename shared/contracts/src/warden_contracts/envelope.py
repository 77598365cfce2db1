"""CloudEvents 1.0 envelope shared by every message on the bus."""

from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Set
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from warden_contracts.assembly import assemble

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
    # What `keep_bytes` wrote, with the field values it wrote them from.
    _encoded: _Encoded | None = PrivateAttr(default=None)

    def payload(self, model: builtins.type[T]) -> T:
        known = self._validated
        if known is not None and known[0] is self.data and type(known[1]) is model:
            return known[1]
        return model.model_validate(self.data)

    def remember_payload(self, payload: BaseModel) -> None:
        """Record `payload` as `data` validated (by the reader that just did so)."""
        self._validated = (self.data, payload)

    def to_bytes(self) -> bytes:
        kept = (self.__pydantic_private__ or {}).get("_encoded")
        if kept is not None and kept.matches(self):
            return kept.body
        return self.model_dump_json(exclude_none=True).encode()

    def keep_bytes(self) -> bytes:
        """`to_bytes`, remembered for the later calls while every field is the very object it
        was written from (an assignment or a `model_copy(update=...)` writes them again): the
        webhook checks each alert's size before it publishes it, and now encodes it once.
        A change made inside a field in place (`data[...] = ...`) is not seen: call it only on
        an envelope that is finished, as the webhook does just before publishing."""
        body = self.model_dump_json(exclude_none=True).encode()
        if not self.__pydantic_extra__:
            private = self.__pydantic_private__
            assert private is not None  # the model declares private attributes
            private["_encoded"] = _Encoded(tuple(self.__dict__.values()), body)
        return body

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    @classmethod
    def assembled(
        cls,
        *,
        id: str,
        source: str,
        type: str,
        subject: str | None,
        dataschema: str | None,
        correlationid: str,
        causationid: str | None,
        data: dict[str, Any],
    ) -> Envelope:
        """What `Envelope(...)` makes of these arguments, without validating them (`assembly`): for
        a hot path whose every argument is a `str` it made and a JSON-ready `data` it wrote."""
        fields = {
            "specversion": SPEC_VERSION,
            "id": id,
            "source": source,
            "type": type,
            "time": utcnow(),
            "subject": subject,
            "dataschema": dataschema,
            "datacontenttype": "application/json",
            "correlationid": correlationid,
            "causationid": causationid,
            "data": data,
        }
        return assemble(cls, fields, fields_set=_ASSEMBLED_FIELDS, private={"_validated": None, "_encoded": None})

    @classmethod
    def read_from(cls, fields: dict[str, Any], fields_set: Set[str], payload: BaseModel) -> Envelope:
        """The envelope validation made of a message (`reading`): `fields` are every field in
        declaration order as validating it left them (and no extension attribute), `fields_set`
        the ones it had, and `payload` is `data` validated by the reader that just did so."""
        private = {"_validated": (fields["data"], payload), "_encoded": None}
        return assemble(cls, fields, fields_set=fields_set, private=private)


_ASSEMBLED_FIELDS = frozenset({"id", "source", "type", "subject", "dataschema", "correlationid", "causationid", "data"})


class _Encoded:
    """A cache, not part of the value: equal to anything, so an envelope that carries one still
    equals the same envelope without (pydantic compares private attributes too)."""

    __slots__ = ("body", "state")

    def __init__(self, state: tuple[Any, ...], body: bytes) -> None:
        self.state = state
        self.body = body

    def matches(self, envelope: Envelope) -> bool:
        current = envelope.__dict__.values()
        return (
            not envelope.__pydantic_extra__
            and len(current) == len(self.state)
            and all(a is b for a, b in zip(current, self.state, strict=True))
        )

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


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
_NAMESPACE_BYTES = _NAMESPACE.bytes
_VARIANT = {f"{n:x}": f"{n & 0x3 | 0x8:x}" for n in range(16)}


def derived_id(cause_id: str, purpose: str) -> str:
    """Stable id for a message derived from another: redelivery of the cause re-publishes the same
    id, which the broker's de-duplication window then drops.

    `str(uuid.uuid5(_NAMESPACE, f"{cause_id}/{purpose}"))`, written from the SHA-1 digest's hex
    directly (a third of the time; one per alert on the webhook): version 5 in the 13th digit,
    variant 10xx in the 17th."""
    h = hashlib.sha1(_NAMESPACE_BYTES + f"{cause_id}/{purpose}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
