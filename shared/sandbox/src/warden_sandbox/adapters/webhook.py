"""Delivers the monitor's outbox to the alert webhook, in order, at least once.

Retryable failures (unreachable, timeout, 5xx, 408, 429) leave the notification at the head of
the outbox and stop the drain: it is tried again after the next tick, and nothing behind it
overtakes it, so a Resolved can never arrive before its Fired. Any other 4xx means the receiver
will never accept this payload; it is logged and dropped so it cannot block the queue forever.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from warden_sandbox.domain.monitor import Monitor

log = logging.getLogger("warden_sandbox.webhook")
RETRYABLE_4XX = {408, 425, 429}


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DROPPED = "dropped"


class WebhookSender:
    def __init__(self, url: str, token: str | None, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, payload: dict[str, Any]) -> Outcome:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        essentials = payload["data"]["essentials"]
        extra = {"alert_id": essentials["alertId"], "condition": essentials["monitorCondition"]}
        try:
            async with self._session.post(self.url, json=payload, headers=self._headers) as resp:
                body = (await resp.text())[:500]
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning("alert webhook unreachable; will retry", extra={**extra, "error": repr(err)})
            return Outcome.RETRY
        if status < 300:
            log.info("alert delivered", extra={**extra, "status": status})
            return Outcome.DELIVERED
        if status >= 500 or status in RETRYABLE_4XX:
            log.warning("alert webhook failed; will retry", extra={**extra, "status": status})
            return Outcome.RETRY
        log.error("alert webhook rejected the alert; dropped", extra={**extra, "status": status, "body": body})
        return Outcome.DROPPED


Send = Callable[[dict[str, Any]], Awaitable[Outcome]]


class AlertDispatcher:
    """Drains the outbox whenever woken (after each tick); `persist` records progress."""

    def __init__(self, monitor: Monitor, send: Send, persist: Callable[[], Awaitable[None]]) -> None:
        self._monitor = monitor
        self._send = send
        self._persist = persist
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Send pending notifications in order until the outbox is empty or one must wait."""
        settled = 0
        while (payload := self._monitor.next_pending()) is not None:
            outcome = await self._send(payload)
            if outcome is Outcome.RETRY:
                break
            # The head may have changed only by us: the monitor appends, never removes.
            self._monitor.settle_pending()
            settled += 1
        if settled:
            await self._persist()
        return settled

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("alert dispatch failed; retrying after the next tick")
