"""Contracts only grow: every checked-in schema snapshot must still be satisfied additively."""

from __future__ import annotations

import json

import pytest
from warden_contracts import schemas, topology

CURRENT = schemas.current_schemas()


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_snapshot_exists_and_change_is_additive(name: str) -> None:
    path = schemas.snapshot_path(name)
    assert path.exists(), f"no snapshot for {name}: run python -m warden_contracts.schemas --write"
    old = json.loads(path.read_text())
    assert schemas.breaking_changes(old, CURRENT[name]) == []


def test_detects_removed_field_type_change_and_new_required() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"b": {"type": "string"}, "c": {"type": "string"}}, "required": ["c"]}
    assert sorted(schemas.breaking_changes(old, new)) == [
        "a: removed",
        "b: type integer became string",
        "c: became required",
    ]


def test_adding_an_optional_field_is_allowed() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {
        "properties": {"a": {"type": "string"}, "z": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["a"],
    }
    assert schemas.breaking_changes(old, new) == []


def test_every_topic_has_a_producer_and_a_consumer() -> None:
    for t in topology.TOPICS:
        assert t.producers, t.name
        assert t.consumers or t.elevated_consumers, t.name


def test_approved_actions_are_readable_by_the_executor_only_and_only_elevated() -> None:
    approved = topology.topic("sre.action.approved.v1")
    assert approved.consumers == ()
    assert approved.elevated_consumers == ("executor",)
