"""JetStream publishes whose acknowledgements are awaited together, on one reply subscription.

What nats-py's `JetStreamContext.publish_async` does, without its per-message costs that showed in
the webhook's profile (about a tenth of its CPU per alert): an `asyncio.wait_for` on a semaphore, a
NUID plus random token per reply subject, a done callback, and a `PubAck` dataclass parsed from
every acknowledgement nobody reads. The message on the wire is the same: subject, payload and
headers, with `Nats-Expected-Stream` last, as `publish_async(stream=...)` adds it.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import APIError, NoStreamResponseError

NO_RESPONDERS_STATUS = "503"
# publish_async's own bound: more outstanding publishes than this wait for acknowledgements.
MAX_PENDING = 4000


class PublishAcks:
    def __init__(self, nc: Client, *, max_pending: int = MAX_PENDING) -> None:
        self.client = nc
        self._max_pending = max_pending
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._raw: set[str] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._prefix = ""
        self._next = 0

    async def start(self) -> None:
        if not self._prefix:
            prefix = self.client.new_inbox()  # `<inbox prefix>.<nuid>`: within the identity's inbox
            await self.client.subscribe(f"{prefix}.*", cb=self._on_ack)
            self._prefix = f"{prefix}."

    async def publish(
        self, subject: str, body: bytes, stream: str, headers: dict[str, str], *, raw: bool = False
    ) -> tuple[str, asyncio.Future[bytes]]:
        """Writes the message (`headers` gains `Nats-Expected-Stream`); the future settles with its
        acknowledgement's bytes or the broker's error (`raw`: with the reply's bytes even when they
        hold an error, for a caller that reads the reply itself). `forget` the token once done."""
        while len(self._pending) >= self._max_pending:
            self._room.clear()
            await self._room.wait()
        self._next += 1
        token = str(self._next)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        if raw:
            self._raw.add(token)
        headers[api.Header.EXPECTED_STREAM] = stream
        try:
            await self.client.publish(subject, body, reply=self._prefix + token, headers=headers)
        except BaseException:
            self.forget(token)
            raise
        return token, future

    def forget(self, token: str) -> None:
        """Frees the slot of a settled or abandoned publish: its acknowledgement, if late, is ignored."""
        self._raw.discard(token)
        if self._pending.pop(token, None) is not None and len(self._pending) < self._max_pending:
            self._room.set()

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix) :]
        future = self._pending.get(token)
        if future is None:
            return
        raw = token in self._raw
        self.forget(token)  # settled: its slot is free at once, whoever awaits it
        if future.done():
            return
        if msg.headers and msg.headers.get(api.Header.STATUS) == NO_RESPONDERS_STATUS:
            future.set_exception(NoStreamResponseError())
            return
        error = None if raw else _error_of(msg.data)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(msg.data)


def _error_of(data: bytes) -> APIError | None:
    """The error a JetStream publish reply reports; an acknowledgement without one is a success."""
    if data.startswith(b"{") and b'"error"' not in data:
        return None  # {"stream": ..., "seq": ..., "duplicate": ...}: nothing else to read
    try:
        resp = json.loads(data)
    except ValueError:
        return APIError(description=f"unreadable publish acknowledgement {data[:64]!r}")
    if not isinstance(resp, dict):
        return APIError(description=f"unreadable publish acknowledgement {data[:64]!r}")
    if "error" not in resp:
        return None
    try:
        APIError.from_error(resp["error"])  # raises the subclass for the code (nats-py's own reading)
    except APIError as err:
        return err
    return APIError(description=str(resp["error"])[:200])
