"""Slack: the approval message with buttons, and the interactivity endpoint its buttons call.

Each request is verified with Slack's v0 signing scheme (HMAC-SHA256 of `v0:{timestamp}:{body}`
with the app's signing secret, timestamps older than 5 minutes refused) through `slack_sdk`'s
SignatureVerifier; a signature seen before is refused as a replay. The Slack user id maps to a
directory user; the decision is published and the message updated to show who decided.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from warden_contracts.events import ApprovalDecision

from warden_console.desk import ApproverDesk, DecisionRefused
from warden_console.domain.approvals import ApprovalView
from warden_console.domain.cards import slack_blocks, slack_decided_blocks
from warden_console.domain.replay import ReplayGuard
from warden_console.ports import Directory
from warden_console.web.chat_identity import chat_principal

log = logging.getLogger("warden.console.slack")
WINDOW_S = 5 * 60


@dataclass
class SlackChannel:
    desk: ApproverDesk
    directory: Directory | None
    verifier: SignatureVerifier
    client: AsyncWebClient
    users: Mapping[str, str]  # Slack user id → directory name
    channel: str = ""

    def __post_init__(self) -> None:
        # Slack refuses timestamps older than the window, so remembering a little longer is enough.
        self._replays = ReplayGuard(window_s=WINDOW_S * 2)

    async def notify(self, view: ApprovalView) -> None:
        if self.channel:
            await self.client.chat_postMessage(
                channel=self.channel, text=f"Warden needs a decision: {view.request.get('summary')}",
                blocks=slack_blocks(view.request),
            )

    async def actions(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not timestamp or not signature or not timestamp.isdigit():
            raise web.HTTPUnauthorized(text="missing Slack signature")
        if not self.verifier.is_valid(body, timestamp, signature):
            log.warning("Slack request refused: bad signature or outside the 5-minute window")
            raise web.HTTPUnauthorized(text="invalid Slack signature or stale timestamp")
        if not self._replays.first_time(signature, time.time()):
            raise web.HTTPConflict(text="replayed Slack request")
        try:
            form = await request.post()
            payload: dict[str, Any] = json.loads(str(form.get("payload", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="payload must be JSON") from None
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="payload must be a JSON object")
        actions = payload.get("actions")
        if payload.get("type") != "block_actions" or not isinstance(actions, list) or not actions:
            return web.Response(status=200)
        if not isinstance(actions[0], dict) or not isinstance(payload.get("user") or {}, dict):
            raise web.HTTPBadRequest(text="malformed block_actions payload")
        note = await self._action(payload)
        await self._tell(payload, note)
        return web.Response(status=200)

    async def _tell(self, payload: Mapping[str, Any], text: str) -> None:
        """Slack ignores the body of a block_actions answer: tell the presser with an ephemeral message."""
        channel = _channel_id(payload)
        user = (payload.get("user") or {}).get("id")
        if not channel or not user:
            return
        try:
            await self.client.chat_postEphemeral(channel=channel, user=str(user), text=text)
        except SlackApiError as err:
            log.warning("could not answer the Slack user: %s", err)

    async def _action(self, payload: Mapping[str, Any]) -> str:
        action = payload["actions"][0]
        verb, approval_id = str(action.get("action_id", "")), str(action.get("value", ""))
        if verb not in {"approve", "deny"} or not approval_id:
            return "Unknown action."
        who = chat_principal(self.directory, self.users, str((payload.get("user") or {}).get("id", "")), "slack")
        if who is None:
            return "Your Slack account is not mapped to a Warden approver."
        try:
            await self.desk.decide(who, approval_id, ApprovalDecision(verb), "", "slack")
        except DecisionRefused as refused:
            return f"Not sent: {refused}"
        await self._update_message(payload, approval_id, "approved" if verb == "approve" else "denied", who.name)
        return f"{verb} sent as {who.name}; policy verifies it."

    async def _update_message(self, payload: Mapping[str, Any], approval_id: str, verb: str, by: str) -> None:
        channel = _channel_id(payload)
        ts = (payload.get("message") or {}).get("ts") or (payload.get("container") or {}).get("message_ts")
        view = await self.desk.approval(approval_id)
        if not channel or not ts or view is None:
            return
        try:
            await self.client.chat_update(
                channel=str(channel),
                ts=str(ts),
                text=f"{verb} by {by}",
                blocks=slack_decided_blocks(view.request, verb, by),
            )
        except SlackApiError as err:
            log.warning("could not update the Slack message: %s", err)  # the decision is already sent


def _channel_id(payload: Mapping[str, Any]) -> str:
    channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get("channel_id")
    return str(channel or "")

