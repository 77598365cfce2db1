"""The approval request an approver sees: a short structured brief and a Microsoft Teams
Adaptive Card (schema 1.5) whose Action.Execute buttons carry the approval id and action hash.

Rationale, summary and evidence come from the planner and its tools: untrusted text. It is
flattened to plain, bounded text so a card can never carry a link or markup an attacker wrote."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from warden_contracts.catalog import ActionSpec
from warden_contracts.events import ApprovalBrief, ApprovalRequested, Evidence

from warden_policy.domain.approvals import Approval

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MARKUP = re.compile(r"[\[\]()<>*_`~#|\\]")
MAX_TEXT = 200
MAX_WHY = 6


def plain(text: str, limit: int = MAX_TEXT) -> str:
    flat = " ".join(MARKUP.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _evidence_line(evidence: Evidence) -> str:
    result = json.dumps(evidence.result, sort_keys=True, default=str)
    return plain(f"{evidence.tool}: {result}", 120)


def brief(approval: Approval, spec: ActionSpec, policy_reasons: Sequence[str]) -> ApprovalBrief:
    action = approval.action
    params = ", ".join(f"{k}={v}" for k, v in sorted(action.params.items()))
    why = [plain(f"rationale: {action.rationale}")]
    why += [f"evidence {_evidence_line(e)}" for e in approval.evidence[: MAX_WHY - 2]]
    why += [plain(f"policy: {r}") for r in policy_reasons if not r.startswith(("tier:", "response_plan:"))][:2]
    rollback = spec.rollback.description if spec.rollback else "none: the action is not reversible"
    return ApprovalBrief(
        what=plain(f"{action.kind}({params}) - {spec.description}"),
        where=plain(
            f"{action.target} in {approval.environment}"
            + (f" ({approval.resource_group})" if approval.resource_group else "")
        ),
        why=why[:MAX_WHY],
        blast_radius=spec.blast_radius,
        reversible=spec.reversible,
        rollback_plan=rollback,
        expires_at=approval.expires_at,
        approvals_required=approval.approvals_required,
    )


def adaptive_card(approval: Approval, summary: ApprovalBrief) -> dict[str, Any]:
    data = {"approval_id": approval.approval_id, "action_hash": approval.action_hash}
    facts = [
        ("What", summary.what),
        ("Where", summary.where),
        ("Tier", str(approval.tier)),
        ("Blast radius", summary.blast_radius),
        ("Reversible", "yes" if summary.reversible else "no"),
        ("Rollback", summary.rollback_plan),
        ("Approvals needed", str(summary.approvals_required)),
        ("Expires (UTC)", summary.expires_at.strftime("%Y-%m-%d %H:%M:%S")),
    ]
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": "1.5",
        "body": [
            {
                "type": "TextBlock",
                "text": "Warden needs an approval",
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": plain(approval.summary), "wrap": True, "isSubtle": True},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
            {"type": "TextBlock", "text": "Why", "weight": "Bolder", "wrap": True},
            *({"type": "TextBlock", "text": line, "wrap": True, "spacing": "None"} for line in summary.why),
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Approve", "verb": "approve", "style": "positive", "data": data},
            {"type": "Action.Execute", "title": "Deny", "verb": "deny", "style": "destructive", "data": data},
        ],
    }


def approval_request(approval: Approval, spec: ActionSpec, policy_reasons: Sequence[str]) -> ApprovalRequested:
    summary = brief(approval, spec, policy_reasons)
    return ApprovalRequested(
        approval_id=approval.approval_id,
        incident_id=approval.incident_id,
        action=approval.action,
        action_hash=approval.action_hash,
        tier=approval.tier,
        environment=approval.environment,
        summary=approval.summary,
        evidence=approval.evidence,
        reversible=spec.reversible,
        rollback_plan=summary.rollback_plan,
        blast_radius=spec.blast_radius,
        expires_at=approval.expires_at,
        requested_by=approval.requested_by,
        approvals_required=approval.approvals_required,
        brief=summary,
        adaptive_card=adaptive_card(approval, summary),
    )
