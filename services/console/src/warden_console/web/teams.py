"""The Teams bot endpoint: `adaptiveCard/action` invokes from the approval card (Universal Actions).

Every request is authenticated by its Bot Connector token before anything is read from it; the
person is `from.aadObjectId` mapped to a directory user; the answer refreshes the card for the
presser, and the posted card is updated for everyone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from warden_contracts.events import ApprovalDecision

from warden_console.adapters.bot_connector import BotAuthError, BotConnectorClient, BotTokenValidator
from warden_console.desk import ApproverDesk, DecisionRefused
from warden_console.domain.approvals import ApprovalView
from warden_console.domain.cards import ADAPTIVE_CARD, approval_card, decided_card
from warden_console.domain.replay import ReplayGuard
from warden_console.ports import Directory
from warden_console.web.chat_identity import chat_principal

log = logging.getLogger("warden.console.teams")


@dataclass
class TeamsChannel:
    desk: ApproverDesk
    directory: Directory | None
    validator: BotTokenValidator
    client: BotConnectorClient
    users: Mapping[str, str]  # aadObjectId → directory name
    service_url: str = ""
    conversation_id: str = ""

    def __post_init__(self) -> None:
        self._replays = ReplayGuard(window_s=3600)

    async def notify(self, view: ApprovalView) -> None:
        """Post the approval card to the configured channel conversation."""
        if self.service_url and self.conversation_id:
            await self.client.post_card(self.service_url, self.conversation_id, approval_card(view.request))

    async def messages(self, request: web.Request) -> web.StreamResponse:
        try:
            activity: dict[str, Any] = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="activity must be JSON") from None
        if not isinstance(activity, dict):
            raise web.HTTPBadRequest(text="activity must be a JSON object")
        try:
            await self.validator.validate(request.headers.get("Authorization"), activity)
        except BotAuthError as err:
            log.warning("Bot Connector request refused: %s", err)
            raise web.HTTPUnauthorized(text=str(err)) from None
        if activity.get("type") != "invoke" or activity.get("name") != "adaptiveCard/action":
            return web.json_response({}, status=200)  # messages, installs, ...: nothing to do
        return web.json_response(await self._action(activity))

    async def _action(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        action = (activity.get("value") or {}).get("action") or {}
        data = action.get("data") or {}
        verb, approval_id = str(action.get("verb", "")), str(data.get("approval_id", ""))
        if verb not in {"approve", "deny"} or not approval_id:
            return _error(400, "BadRequest", "unknown card action")
        replay_key = f"{(activity.get('conversation') or {}).get('id')}/{activity.get('id')}"
        if not self._replays.first_time(replay_key, time.time()):
            return _error(409, "Replayed", "this action was already handled")
        who = chat_principal(
            self.directory, self.users, str((activity.get("from") or {}).get("aadObjectId", "")), "teams"
        )
        if who is None:
            return _error(403, "NotAnApprover", "your Teams account is not mapped to a Warden approver")
        shown = data.get("action_hash")
        current = await self.desk.approval(approval_id)
        if shown and current and shown != current.request.get("action_hash"):
            # The card was rendered for a different action than the request now holds.
            return _error(409, "ActionChanged", "this card shows a different action; open the request again")
        try:
            sent = await self.desk.decide(
                who, approval_id, ApprovalDecision(verb), str(data.get("reason", "")), "teams"
            )
        except DecisionRefused as refused:
            return _error(403, "Refused", str(refused))
        view = await self.desk.approval(sent.approval_id)
        card = decided_card(view.request if view else {}, "approved" if verb == "approve" else "denied", who.name)
        await self._update_for_everyone(activity, card)
        return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": card}

    async def _update_for_everyone(self, activity: Mapping[str, Any], card: dict[str, Any]) -> None:
        reply_to, conversation = activity.get("replyToId"), (activity.get("conversation") or {}).get("id")
        if not reply_to or not conversation:
            return
        try:
            await self.client.update_card(str(activity["serviceUrl"]), str(conversation), str(reply_to), card)
        except (BotAuthError, OSError) as err:
            # The decision is already on the bus; a stale card elsewhere is cosmetic.
            log.warning("could not update the posted card: %s", err)


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    error = {"code": code, "message": message}
    return {"statusCode": status, "type": "application/vnd.microsoft.error", "value": error}

