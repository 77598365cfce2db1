"""Broker permissions per identity, derived from the topology table and nothing else."""

from __future__ import annotations

from warden_contracts import topology as topo

from warden_bus.nats_jwt import Permissions


def inbox_prefix(identity: str) -> str:
    # Each identity gets its own inbox: with a shared `_INBOX.>` one service could read
    # another's pull responses.
    return f"_INBOX_{identity}"


def consume_subjects(stream: str, durable: str) -> list[str]:
    return [
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def publish_subjects(identity: str, t: topo.Topic) -> list[str]:
    if t.name == topo.DEADLETTER_TOPIC:
        return [topo.deadletter_subject(identity)]
    return [t.name]


def standing_permissions(identity: str) -> Permissions:
    pub: list[str] = []
    for t in topo.produced_by(identity):
        pub += publish_subjects(identity, t)
    for t in topo.consumed_by(identity):
        pub += consume_subjects(t.stream, identity)
    sub = [f"{inbox_prefix(identity)}.>"]
    if identity in topo.elevation_eligible():
        # An eligible standing identity may only ask for elevation (on its own subjects, which is
        # how the authority knows who asks), never read the elevated topics.
        pub += [topo.elevation_request_subject(identity), topo.elevation_release_subject(identity)]
    if identity == "elevation":
        sub.append(f"{topo.ELEVATION_SUBJECT_PREFIX}.>")
    return Permissions(pub_allow=sorted(set(pub)), sub_allow=sub, allow_responses=identity == "elevation")


def elevated_permissions(identity: str) -> Permissions:
    """What a just-in-time grant adds: consume the elevated topics, publish reports."""
    pub: list[str] = []
    for t in topo.elevated_for(identity):
        pub += consume_subjects(t.stream, identity)
    pub += [p for t in topo.produced_by(identity) for p in publish_subjects(identity, t)]
    return Permissions(pub_allow=sorted(set(pub)), sub_allow=[f"{inbox_prefix(identity)}_elevated.>"])


def admin_permissions() -> Permissions:
    return Permissions(pub_allow=[">"], sub_allow=[">"])
