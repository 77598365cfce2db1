"""Cedar evaluation of the gate's questions (cedarpy). Policies and schema are read once and
validated against each other; a policy that does not validate stops the service.

Per decision, the work left is Cedar's own: entity sets are parsed once per (target, asker), the
facts shared by a decision's questions are encoded to JSON once, and a request is checked against
the schema the first time its shape (action, principal, fact names and value types) is seen;
later requests of a shape that passed are evaluated without re-checking the schema (values of the
same types cannot fail it, and evaluation errors still fail closed)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
from warden_bus import traced

from warden_policy.domain.evaluation import (
    AGENT,
    PolicyError,
    PolicyEvaluator,
    PolicyInfo,
    Principal,
    Question,
    Rule,
    Verdict,
)

NAMESPACE = "Warden"
SCHEMA_FILE = "schema.cedarschema"
ENTITY_SETS_CACHED = 1024
SHAPES_CACHED = 256
EXTENSION_TYPES = re.compile(r"\b(decimal|ipaddr|datetime|duration)\b")


def _read_policy_dir(policy_dir: Path | None) -> tuple[str, str, str]:
    """(origin, schema text, all policies) from a directory, or the files shipped in the package."""
    if policy_dir is not None:
        schema_path = policy_dir / SCHEMA_FILE
        if not schema_path.is_file():
            raise PolicyError(f"policy schema missing: {schema_path}")
        files = sorted(policy_dir.glob("*.cedar"))
        texts = [p.read_text() for p in files]
        return str(policy_dir), schema_path.read_text(), "\n".join(texts)
    shipped = resources.files("warden_policy").joinpath("cedar")
    names = sorted(p.name for p in shipped.iterdir() if p.name.endswith(".cedar"))
    texts = [shipped.joinpath(n).read_text() for n in names]
    return "warden_policy/cedar", shipped.joinpath(SCHEMA_FILE).read_text(), "\n".join(texts)


def _rules_by_policy_id(policies: str) -> dict[str, Rule]:
    parsed = json.loads(cedarpy.policies_to_json_str(policies))
    rules: dict[str, Rule] = {}
    for policy_id, policy in parsed.get("staticPolicies", {}).items():
        notes = policy.get("annotations") or {}
        if not notes.get("id") or not notes.get("reason"):
            raise PolicyError(f"every policy needs @id and @reason annotations ({policy_id} has {sorted(notes)})")
        outcome = notes.get("outcome", "refuse")
        if outcome not in ("refuse", "handoff"):
            raise PolicyError(f"policy {notes['id']}: @outcome must be refuse or handoff, not {outcome!r}")
        rules[policy_id] = Rule(notes["id"], notes["reason"], outcome)
    ids = [r.id for r in rules.values()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"policy ids must be unique: {duplicates}")
    return rules


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::{kind}", "id": name}


def _fact(value: Any) -> Any:
    if isinstance(value, Principal):
        return {"__entity": _uid(value.type, value.id)}
    if isinstance(value, set | frozenset | list | tuple):
        return [_fact(v) for v in sorted(value, key=str)]
    return value


def _entities(question: Question) -> list[dict[str, Any]]:
    target = question.target
    principal = question.principal
    return [
        {
            "uid": _uid("Target", target.name),
            "attrs": {"environment": target.environment, "resource_group": target.resource_group},
            "parents": [],
        },
        {
            "uid": _uid(principal.type, principal.id),
            "attrs": {},
            "parents": [_uid("Group", g) for g in sorted(principal.groups)] if principal.type != AGENT else [],
        },
    ]


PrincipalKey = tuple[str, str, tuple[str, ...]]


def _target_key(question: Question) -> tuple[str, ...]:
    """What the target entity is made of (see `_entities`)."""
    target = question.target
    return (target.name, str(target.environment), str(target.resource_group))


def _principal_key(question: Question) -> PrincipalKey:
    principal = question.principal
    groups = tuple(sorted(principal.groups)) if principal.type != AGENT else ()
    return (principal.type, principal.id, groups)


class CedarPolicy(PolicyEvaluator):
    def __init__(self, policy_dir: Path | None = None) -> None:
        self.origin, schema_text, policies = _read_policy_dir(policy_dir)
        self._entity_sets: dict[tuple[Any, ...], cedarpy.Entities] = {}
        self._valid_shapes: set[tuple[Any, ...]] = set()
        # Extension types (decimal, ipaddr, ...) are checked by value, not by type alone.
        self._cache_shapes = not EXTENSION_TYPES.search(schema_text)
        try:
            self._schema = cedarpy.Schema.from_str(schema_text)
            validation = cedarpy.validate_policies(policies, schema_text)
            self._rules = _rules_by_policy_id(policies)
            self._policies = cedarpy.PolicySet.from_str(policies)
        except ValueError as err:
            raise PolicyError(f"invalid Cedar policy in {self.origin}: {err}") from err
        if not validation.validation_passed:
            problems = "; ".join(str(e) for e in validation.errors)
            raise PolicyError(f"Cedar policy in {self.origin} does not validate against its schema: {problems}")
        if not self._rules:
            raise PolicyError(f"no Cedar policies in {self.origin}")

    def info(self) -> PolicyInfo:
        return PolicyInfo(self.origin, len(self._rules), sorted(r.id for r in self._rules.values()))

    @traced.policy_evaluation()
    def evaluate(self, questions: Sequence[Question]) -> list[Verdict]:
        # Questions about the same target with the same attributes share one batch; a batch has
        # one entity set, so questions that disagree about an entity are evaluated apart.
        verdicts: dict[int, Verdict] = {}
        batches: dict[tuple[str, ...], list[int]] = {}
        for index, question in enumerate(questions):
            batches.setdefault(_target_key(question), []).append(index)
        for indexes in batches.values():
            batch = [questions[i] for i in indexes]
            verdicts.update(zip(indexes, self._evaluate_batch(batch), strict=True))
        return [verdicts[i] for i in range(len(questions))]

    def _evaluate_batch(self, questions: list[Question]) -> list[Verdict]:
        principals: dict[tuple[str, str], PrincipalKey] = {}
        for question in questions:
            key = _principal_key(question)
            if principals.setdefault(key[:2], key) != key:
                # Same person named with different groups in one batch (never with a single question).
                return [v for q in questions for v in self._evaluate_batch([q])]
        try:
            entities = self._entity_set(questions, (_target_key(questions[0]), *principals.values()))
            requests, shapes = self._requests(questions)
            checked = self._cache_shapes and shapes <= self._valid_shapes
            results = cedarpy.is_authorized_batch(requests, self._policies, entities, None if checked else self._schema)
        except (ValueError, TypeError) as err:  # facts that do not match the schema: deny, loudly
            return [Verdict(False, (), (f"request rejected: {err}",)) for _ in questions]
        verdicts = [self._verdict(r) for r in results]
        # Cedar reports a request the schema refuses as an error of its result, not by raising.
        clean = not any(v.errors for v in verdicts)
        if self._cache_shapes and not checked and clean and len(self._valid_shapes) < SHAPES_CACHED:
            self._valid_shapes |= shapes  # the schema accepted them
        return verdicts

    def _requests(self, questions: list[Question]) -> tuple[list[dict[str, Any]], set[tuple[Any, ...]]]:
        """Cedar requests, the context of questions sharing one facts mapping encoded once, and
        the shape of each request."""
        contexts: dict[int, tuple[str, tuple[Any, ...]]] = {}
        requests, shapes = [], set()
        for question in questions:
            encoded = contexts.get(id(question.facts))
            if encoded is None:
                facts = {k: _fact(v) for k, v in question.facts.items()}
                encoded = json.dumps(facts), _facts_shape(facts)
                contexts[id(question.facts)] = encoded
            requests.append(self._request(question, encoded[0]))
            shapes.add((question.action, question.principal.type, encoded[1]))
        return requests, shapes

    def _entity_set(self, questions: list[Question], key: tuple[Any, ...]) -> cedarpy.Entities:
        """Parsed and checked against the schema once per distinct set (a target and who asks),
        not on every decision."""
        handle = self._entity_sets.pop(key, None)
        if handle is None:
            found: dict[tuple[str, str], dict[str, Any]] = {}
            for question in questions:
                principal = _entities(question)[1]
                found[(principal["uid"]["type"], principal["uid"]["id"])] = principal
            document = [_entities(questions[0])[0], *found.values()]
            handle = cedarpy.Entities.from_json_str(json.dumps(document), self._schema)
        self._entity_sets[key] = handle  # most recently used last
        while len(self._entity_sets) > ENTITY_SETS_CACHED:
            self._entity_sets.pop(next(iter(self._entity_sets)))
        return handle

    def _request(self, question: Question, context: str) -> dict[str, Any]:
        return {
            "principal": _uid(question.principal.type, question.principal.id),
            "action": _uid("Action", question.action),
            "resource": _uid("Target", question.target.name),
            "context": context,
        }

    def _verdict(self, result: cedarpy.AuthzResult) -> Verdict:
        rules = tuple(self._rules[p] for p in result.diagnostics.reasons if p in self._rules)
        return Verdict(result.allowed, rules, tuple(result.diagnostics.errors))


def _value_shape(value: Any) -> Any:
    if isinstance(value, list):
        return ("set", tuple(sorted({repr(_value_shape(v)) for v in value})))
    if isinstance(value, dict):
        if "__entity" in value:
            return ("entity", value["__entity"]["type"])
        return ("record", tuple(sorted((k, repr(_value_shape(v))) for k, v in value.items())))
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return ("out_of_range_long",)  # never cached as valid: Cedar refuses it
    return type(value).__name__


def _facts_shape(facts: dict[str, Any]) -> tuple[Any, ...]:
    """What the schema checks about a context: its attribute names and the type of each value."""
    return tuple(sorted((k, repr(_value_shape(v))) for k, v in facts.items()))
