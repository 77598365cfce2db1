"""Rule evaluation with alert episodes and an outbox of notifications still to deliver.

An episode opens when a rule starts firing for a service and closes when it stops; both
transitions reuse one alert id, as Azure Monitor does. The outbox is part of the persisted state,
so a notification the webhook has not accepted yet survives a restart.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from warden_sandbox.domain.alerts import DEFAULT_RULES, AlertRule, common_alert
from warden_sandbox.domain.clock import iso

HISTORY_CAPACITY = 500


@dataclass
class Episode:
    service: str
    rule: str
    alert_uuid: str
    fired_at: str


@dataclass(frozen=True)
class AlertTransition:
    service: str
    rule: str
    condition: str
    at: str
    alert_id: str
    payload: dict[str, Any]


def _new_uuid() -> str:
    return str(uuid.uuid4())


class Monitor:
    def __init__(
        self, rules: Iterable[AlertRule] = DEFAULT_RULES, *, deliver: bool, new_uuid: Callable[[], str] = _new_uuid
    ) -> None:
        self.rules = {rule.key: rule for rule in rules}
        # Without a webhook the monitor still tracks episodes, so history is meaningful.
        self.deliver = deliver
        self._new_uuid = new_uuid
        self.open: dict[tuple[str, str], Episode] = {}
        self.outbox: deque[dict[str, Any]] = deque()
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_CAPACITY)

    def evaluate(self, views: Iterable[dict[str, Any]], now: datetime) -> list[AlertTransition]:
        at = iso(now)
        transitions: list[AlertTransition] = []
        for view in views:
            for rule in self.rules.values():
                key = (view["name"], rule.key)
                episode = self.open.get(key)
                if rule.firing(view) and episode is None:
                    episode = Episode(view["name"], rule.key, self._new_uuid(), at)
                    self.open[key] = episode
                    transitions.append(self._transition(rule, view, episode, "Fired", None))
                elif episode is not None and not rule.firing(view):
                    del self.open[key]
                    transitions.append(self._transition(rule, view, episode, "Resolved", at))
        for transition in transitions:
            self.history.append({k: v for k, v in asdict(transition).items() if k != "payload"})
            if self.deliver:
                self.outbox.append(transition.payload)
        return transitions

    def _transition(
        self, rule: AlertRule, view: dict[str, Any], episode: Episode, condition: str, resolved_at: str | None
    ) -> AlertTransition:
        payload = common_alert(
            rule,
            view,
            alert_uuid=episode.alert_uuid,
            condition=condition,
            fired_at=episode.fired_at,
            resolved_at=resolved_at,
        )
        return AlertTransition(
            view["name"],
            rule.key,
            condition,
            resolved_at or episode.fired_at,
            payload["data"]["essentials"]["alertId"],
            payload,
        )

    def resolve_all(self, views: Iterable[dict[str, Any]], now: datetime) -> list[AlertTransition]:
        """Close every open episode (the estate is being replaced), with the last view seen."""
        by_name = {view["name"]: view for view in views}
        transitions = []
        for key, episode in list(self.open.items()):
            view, rule = by_name.get(episode.service), self.rules.get(episode.rule)
            del self.open[key]
            if view is not None and rule is not None:
                transitions.append(self._transition(rule, view, episode, "Resolved", iso(now)))
        for transition in transitions:
            self.history.append({k: v for k, v in asdict(transition).items() if k != "payload"})
            if self.deliver:
                self.outbox.append(transition.payload)
        return transitions

    def next_pending(self) -> dict[str, Any] | None:
        return self.outbox[0] if self.outbox else None

    def settle_pending(self) -> None:
        """The head of the outbox was delivered (or deliberately dropped): move on."""
        self.outbox.popleft()

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": [asdict(e) for e in self.open.values()],
            "outbox": list(self.outbox),
            "history": list(self.history),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.open = {(e["service"], e["rule"]): Episode(**e) for e in data.get("open", [])}
        self.outbox = deque(data.get("outbox", []))
        self.history = deque(data.get("history", []), maxlen=HISTORY_CAPACITY)
