"""Cedar evaluation of the gate's questions (cedarpy). Policies and schema are read once and
validated against each other; a policy that does not validate stops the service.

Per decision, the work left is Cedar's own, and only for questions not asked before. Cedar is a
pure function of the policy set, the entities and the request, so a clean verdict is kept (a
bounded memo keyed by exactly those) and a question asked again is answered from it: a storm's
plans, the quorum question of every approval request, the guards re-checked at approval time.
When no policy names a target (see `cedar_facts.names_entities_of`), the target's id cannot
change a verdict, so questions about targets with the same attributes share one entity set and
one memo entry; a verdict with errors is never kept, and is evaluated again under the real name
so its messages say which target. Entity sets are parsed once per (target, asker); the facts
shared by a decision's questions are encoded to JSON once, and a request is checked against the
schema the first time its shape (action, principal, fact names and value types) is seen; later
requests of a shape that passed are evaluated without re-checking the schema (values of the
same types cannot fail it, and evaluation errors still fail closed). Such requests that share a
principal, target and facts and differ only in their action (the gate's execute and request
approval) are put to Cedar as one request, when the policy allows it (see `cedar_fold`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import cedarpy
from warden_bus import traced

from warden_policy.adapters.cedar_facts import LONG_MAX, LONG_MIN, SCALAR_SHAPES, names_entities_of, value_shape
from warden_policy.adapters.cedar_fold import ActionFold, FoldedVerdict
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
VERDICTS_CACHED = 4096
TARGET = "Target"
# The one target of a batch, when the policy cannot tell targets of equal attributes apart.
ANY_TARGET = "*"
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


def _rules_by_policy_id(parsed: dict[str, Any]) -> dict[str, Rule]:
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


def _names_a_target(value: Any) -> bool:
    if isinstance(value, Principal):
        return value.type == TARGET
    return isinstance(value, set | frozenset | list | tuple) and any(_names_a_target(v) for v in value)


PrincipalKey = tuple[str, str, tuple[str, ...]]
TargetKey = tuple[str, str, str]


class Context(NamedTuple):
    """A question's facts as the JSON Cedar reads (the memo's key), the values that JSON
    encodes, their shape (what the schema checks) and whether one of them names a target."""

    text: str
    values: dict[str, Any]
    shape: tuple[tuple[str, str], ...]
    names_target: bool


# Per facts mapping of one `evaluate` call (questions share one): its Context, or why it has none.
Encodings = dict[int, Context | ValueError | TypeError]


def _context(facts: Mapping[str, Any]) -> Context:
    """One pass over the facts; strings, booleans and longs (nearly all of them) as they are."""
    values: dict[str, Any] = {}
    shape: list[tuple[str, str]] = []
    names_target = False
    for name, value in facts.items():
        kind = type(value)
        if kind is str or kind is bool or (kind is int and LONG_MIN <= value <= LONG_MAX):
            values[name] = value
            shape.append((name, SCALAR_SHAPES[kind]))
        else:
            encoded = values[name] = _fact(value)
            shape.append((name, value_shape(encoded)))
            names_target = names_target or _names_a_target(value)
    return Context(json.dumps(values), values, tuple(sorted(shape)), names_target)


def _encoding(facts: Mapping[str, Any], encodings: Encodings) -> Context | ValueError | TypeError:
    found = encodings.get(id(facts))
    if found is None:
        try:
            found = _context(facts)
        except (ValueError, TypeError) as err:  # facts JSON cannot carry
            found = err
        encodings[id(facts)] = found
    return found


def _principal_key(question: Question) -> PrincipalKey:
    principal = question.principal
    groups = tuple(sorted(principal.groups)) if principal.type != AGENT else ()
    return (principal.type, principal.id, groups)


def _principal_entity(key: PrincipalKey) -> dict[str, Any]:
    kind, name, groups = key
    return {"uid": _uid(kind, name), "attrs": {}, "parents": [_uid("Group", g) for g in groups]}


def _target_entity(key: TargetKey) -> dict[str, Any]:
    name, environment, resource_group = key
    return {
        "uid": _uid(TARGET, name),
        "attrs": {"environment": environment, "resource_group": resource_group},
        "parents": [],
    }


class CedarPolicy(PolicyEvaluator):
    def __init__(self, policy_dir: Path | None = None, *, verdicts_cached: int = VERDICTS_CACHED) -> None:
        """`verdicts_cached` bounds the memo of clean verdicts (0: evaluate every question)."""
        self.origin, schema_text, policies = _read_policy_dir(policy_dir)
        self._entity_sets: dict[tuple[Any, ...], cedarpy.Entities] = {}
        self._valid_shapes: set[tuple[Any, ...]] = set()
        self._verdicts: dict[tuple[Any, ...], Verdict] = {}
        self._verdicts_cached = verdicts_cached
        # Extension types (decimal, ipaddr, ...) are checked by value, not by type alone.
        self._cache_shapes = not EXTENSION_TYPES.search(schema_text)
        try:
            self._schema = cedarpy.Schema.from_str(schema_text)
            validation = cedarpy.validate_policies(policies, schema_text)
            parsed = json.loads(cedarpy.policies_to_json_str(policies))
            self._rules = _rules_by_policy_id(parsed)
            self._policies = cedarpy.PolicySet.from_str(policies)
        except ValueError as err:
            raise PolicyError(f"invalid Cedar policy in {self.origin}: {err}") from err
        if not validation.validation_passed:
            problems = "; ".join(str(e) for e in validation.errors)
            raise PolicyError(f"Cedar policy in {self.origin} does not validate against its schema: {problems}")
        if not self._rules:
            raise PolicyError(f"no Cedar policies in {self.origin}")
        self._targets_named = names_entities_of(parsed, f"{NAMESPACE}::{TARGET}")
        self._fold = ActionFold.of(parsed)

    def info(self) -> PolicyInfo:
        return PolicyInfo(self.origin, len(self._rules), sorted(r.id for r in self._rules.values()))

    @traced.policy_evaluation()
    def evaluate(self, questions: Sequence[Question]) -> list[Verdict]:
        # Questions about the same target with the same attributes share one batch; a batch has
        # one entity set, so questions that disagree about an entity are evaluated apart.
        verdicts: dict[int, Verdict] = {}
        batches: dict[TargetKey, list[int]] = {}
        encodings: Encodings = {}
        for index, question in enumerate(questions):
            batches.setdefault(self._target_key(question, encodings=encodings), []).append(index)
        for target, indexes in batches.items():
            batch = [questions[i] for i in indexes]
            found = self._evaluate_batch(batch, target, encodings)
            if target[0] == ANY_TARGET and any(v.errors for v in found):
                # Errors name the entities: asked again under the real ones, one question at a time.
                found = [v for q in batch for v in self._evaluate_batch([q], self._target_key(q, real=True), encodings)]
            verdicts.update(zip(indexes, found, strict=True))
        return [verdicts[i] for i in range(len(questions))]

    def _target_key(self, question: Question, *, real: bool = False, encodings: Encodings | None = None) -> TargetKey:
        """What the target entity is made of; its id only where a verdict may depend on it."""
        target = question.target
        named = real or self._targets_named or question.principal.type == TARGET
        if not named:
            facts = question.facts
            context = _encoding(facts, {} if encodings is None else encodings)
            # Facts that cannot be encoded are refused in their batch: the one they always had.
            named = context.names_target if isinstance(context, Context) else any(map(_names_a_target, facts.values()))
        anonymous = not named
        name = ANY_TARGET if anonymous else target.name
        return (name, str(target.environment), str(target.resource_group))

    def _evaluate_batch(self, questions: list[Question], target: TargetKey, encodings: Encodings) -> list[Verdict]:
        principals: dict[tuple[str, str], PrincipalKey] = {}
        for question in questions:
            key = _principal_key(question)
            if principals.setdefault(key[:2], key) != key:
                # Same person named with different groups in one batch (never with a single question).
                return [v for q in questions for v in self._evaluate_batch([q], target, encodings)]
        entity_key = (target, *principals.values())
        contexts: list[Context] = []
        for question in questions:
            context = _encoding(question.facts, encodings)
            if not isinstance(context, Context):  # facts JSON cannot carry: deny, loudly
                return [Verdict(False, (), (f"request rejected: {context}",)) for _ in questions]
            contexts.append(context)
        if not self._verdicts_cached:
            return self._authorize(questions, contexts, entity_key, target)
        memo_keys = [
            (entity_key, q.action, q.principal.type, q.principal.id, c.text)
            for q, c in zip(questions, contexts, strict=True)
        ]
        kept = [self._verdicts.get(k) for k in memo_keys]
        asked = [i for i, v in enumerate(kept) if v is None]
        if asked:
            fresh = self._authorize([questions[i] for i in asked], [contexts[i] for i in asked], entity_key, target)
            for i, verdict in zip(asked, fresh, strict=True):
                kept[i] = verdict
                self._keep(memo_keys[i], verdict)
        return [v for v in kept if v is not None]

    def _authorize(
        self, questions: list[Question], contexts: list[Context], entity_key: tuple[Any, ...], target: TargetKey
    ) -> list[Verdict]:
        requests = [
            {
                "principal": _uid(q.principal.type, q.principal.id),
                "action": _uid("Action", q.action),
                "resource": _uid(TARGET, target[0]),
                "context": c.text,
            }
            for q, c in zip(questions, contexts, strict=True)
        ]
        shapes = {(q.action, q.principal.type, c.shape) for q, c in zip(questions, contexts, strict=True)}
        try:
            entities = self._entity_set(entity_key, target)
            checked = self._cache_shapes and shapes <= self._valid_shapes
            if checked and self._fold is not None:
                folded = self._folded(self._fold, requests, entities)
                if folded is not None:
                    return folded
            results = cedarpy.is_authorized_batch(requests, self._policies, entities, None if checked else self._schema)
        except (ValueError, TypeError) as err:  # facts that do not match the schema: deny, loudly
            return [Verdict(False, (), (f"request rejected: {err}",)) for _ in requests]
        verdicts = [self._verdict(r) for r in results]
        # Cedar reports a request the schema refuses as an error of its result, not by raising.
        clean = not any(v.errors for v in verdicts)
        if self._cache_shapes and not checked and clean and len(self._valid_shapes) < SHAPES_CACHED:
            self._valid_shapes |= shapes  # the schema accepted them
        return verdicts

    def _folded(
        self, fold: ActionFold, requests: list[dict[str, Any]], entities: cedarpy.Entities
    ) -> list[Verdict] | None:
        """The questions of one principal, target and facts as one Cedar request (see
        `cedar_fold`); None where that cannot give Cedar's own answer (then asked as usual)."""
        try:
            found = fold.authorize(requests, entities)
        except (ValueError, TypeError):
            return None  # asked as usual, so the refusal reads as it always has
        return None if found is None else [self._folded_verdict(v) for v in found]

    def _folded_verdict(self, found: FoldedVerdict) -> Verdict:
        return Verdict(found.allowed, tuple(self._rules[p] for p in found.reasons if p in self._rules), found.errors)

    def _keep(self, key: tuple[Any, ...], verdict: Verdict) -> None:
        if verdict.errors or not self._verdicts_cached:
            return  # an error may be the machine's, not the question's: ask Cedar again next time
        self._verdicts[key] = verdict
        while len(self._verdicts) > self._verdicts_cached:
            self._verdicts.pop(next(iter(self._verdicts)))  # the oldest first

    def _entity_set(self, key: tuple[Any, ...], target: TargetKey) -> cedarpy.Entities:
        """Parsed and checked against the schema once per distinct set (a target and who asks),
        not on every decision."""
        handle = self._entity_sets.pop(key, None)
        if handle is None:
            document = [_target_entity(target), *(_principal_entity(p) for p in key[1:])]
            handle = cedarpy.Entities.from_json_str(json.dumps(document), self._schema)
        self._entity_sets[key] = handle  # most recently used last
        while len(self._entity_sets) > ENTITY_SETS_CACHED:
            self._entity_sets.pop(next(iter(self._entity_sets)))
        return handle

    def _verdict(self, result: cedarpy.AuthzResult) -> Verdict:
        rules = tuple(self._rules[p] for p in result.diagnostics.reasons if p in self._rules)
        return Verdict(result.allowed, rules, tuple(result.diagnostics.errors))
