"""Chat renderings of an approval request: a Teams Adaptive Card (1.5, Action.Execute) and Slack
Block Kit blocks, plus the "decided" versions that replace them once someone has answered.

Policy may ship its own card in the request (`adaptive_card`); it is used as sent when present.
Everything here is plain data built from the request's trusted fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def _facts(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    action = request.get("action") or {}
    return [
        ("Action", f"{action.get('kind')} on {action.get('target')} [{request.get('environment')}]"),
        ("Tier", str(request.get("tier"))),
        ("Blast radius", str(request.get("blast_radius", ""))),
        ("Reversible", "yes" if request.get("reversible") else "NO"),
        ("Rollback plan", str(request.get("rollback_plan", ""))),
        ("Expires", str(request.get("expires_at", ""))),
    ]


def approval_card(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request's own Adaptive Card when policy rendered one, else ours (same verbs and data)."""
    shipped = request.get("adaptive_card")
    if isinstance(shipped, Mapping) and shipped:
        return dict(shipped)
    data = {"approval_id": request.get("approval_id")}
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": "Warden needs a decision"},
            {"type": "TextBlock", "wrap": True, "text": str(request.get("summary", ""))},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in _facts(request)]},
            {"type": "Input.Text", "id": "reason", "placeholder": "Reason (recorded in the audit log)"},
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Approve", "verb": "approve", "data": data, "style": "positive"},
            {"type": "Action.Execute", "title": "Deny", "verb": "deny", "data": data, "style": "destructive"},
        ],
    }


def decided_card(request: Mapping[str, Any], verb: str, by: str) -> dict[str, Any]:
    """The card everyone sees after a decision: who answered, no buttons left to press."""
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": f"{verb.capitalize()} by {by}"},
            {"type": "TextBlock", "wrap": True, "text": str(request.get("summary", ""))},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in _facts(request)]},
            {"type": "TextBlock", "wrap": True, "isSubtle": True, "text": "Policy verifies the decision."},
        ],
    }


def slack_blocks(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    approval_id = str(request.get("approval_id"))
    fields = [{"type": "mrkdwn", "text": f"*{t}*\n{v}"} for t, v in _facts(request)]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Warden needs a decision"}},
        {"type": "section", "text": {"type": "plain_text", "text": str(request.get("summary", ""))[:2900]}},
        {"type": "section", "fields": fields},
        {
            "type": "actions",
            "block_id": f"decide:{approval_id}"[:255],
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "style": "primary",
                    "value": approval_id,
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "deny",
                    "style": "danger",
                    "value": approval_id,
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
    ]


def slack_decided_blocks(request: Mapping[str, Any], verb: str, by: str) -> list[dict[str, Any]]:
    blocks = [b for b in slack_blocks(request) if b["type"] != "actions"]
    note = f"*{verb.capitalize()}* by {by} — policy verifies the decision."
    return [*blocks, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
