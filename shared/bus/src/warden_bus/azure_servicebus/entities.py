"""Service Bus entities derived from the topology table: one topic per topic, one subscription per
consuming identity (named after it), and the broker settings both the adapter and Bicep rely on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from warden_contracts import topology as topo

MAX_SUBSCRIPTION_NAME = 50
MAX_TOPIC_NAME = 260
# The broker's own dead-lettering is only a backstop: the adapter gives up after the handler's
# `max_deliveries` (default 5) and dead-letters with a reason first, exactly like the NATS adapter.
MAX_DELIVERY_COUNT = 10
LOCK_DURATION = timedelta(seconds=60)
DUPLICATE_WINDOW = timedelta(minutes=10)
MESSAGE_TTL = timedelta(days=7)
# A re-driven message is meant for one subscription only: every subscription keeps messages whose
# target is unset or names it, so a re-drive never fans out to the topic's other consumers.
TARGET_PROPERTY = "warden_target"
DEADLETTER_SERVICE_PROPERTY = "warden_service"
CONTENT_TYPE = "application/cloudevents+json"


@dataclass(frozen=True)
class SubscriptionEntity:
    topic: str
    name: str
    elevated: bool

    @property
    def filter_sql(self) -> str:
        return f"{TARGET_PROPERTY} IS NULL OR {TARGET_PROPERTY} = '{self.name}'"


def subscription_name(identity: str) -> str:
    if not identity or len(identity) > MAX_SUBSCRIPTION_NAME:
        raise ValueError(f"subscription name {identity!r} must be 1..{MAX_SUBSCRIPTION_NAME} characters")
    return identity


def subscriptions(t: topo.Topic) -> list[SubscriptionEntity]:
    standing = [SubscriptionEntity(t.name, subscription_name(c), False) for c in t.consumers]
    return standing + [SubscriptionEntity(t.name, subscription_name(c), True) for c in t.elevated_consumers]


def all_subscriptions() -> list[SubscriptionEntity]:
    return [s for t in topo.TOPICS for s in subscriptions(t)]


def check_names() -> None:
    """Raise if any entity the topology implies breaks a Service Bus naming limit."""
    for t in topo.TOPICS:
        if len(t.name) > MAX_TOPIC_NAME:
            raise ValueError(f"topic name {t.name!r} exceeds {MAX_TOPIC_NAME} characters")
    all_subscriptions()
