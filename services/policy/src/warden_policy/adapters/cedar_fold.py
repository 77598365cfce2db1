"""Questions that differ only in their action, put to Cedar as one request.

The gate asks about one principal, target and set of facts for two actions (execute, request
approval). Cedar's own cost is per request: it parses the context and evaluates every policy
for each one. A policy's action scope (`action == A`, `action in [...]`) is checked before its
conditions and cannot fail, so for an action X a policy whose scope does not hold for X is
neither satisfied nor in error, and one whose scope holds behaves as if it had no action scope.
When no condition reads `action`, every action's verdict therefore follows from one evaluation
of the policies with their action scopes removed and each made a permit (so Cedar reports every
satisfied policy, forbid or permit, as a reason, and every failed one as an error). For X, keep
the policies that apply to X: X is allowed when one of them that permits holds and none that
forbids does; its reasons are those permits if allowed, else those forbids (Cedar's rule); its
errors are those of its policies, in Cedar's order (the policy set's, which the folded set keeps).
Which policies apply to X is asked of Cedar (a permit per action scope), so an action hierarchy
in the schema counts exactly as in a request for X."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import cedarpy

# How Cedar names the policy an evaluation error came from; another error is not folded.
POLICY_ERROR = re.compile(r"^error while evaluating policy `([^`]+)`")
ACTIONS_CACHED = 256
POLICY_SETS_CACHED = 64
UNCONSTRAINED = {"op": "All"}


class FoldedVerdict(NamedTuple):
    allowed: bool
    reasons: tuple[str, ...]  # policy ids, as Cedar reports them
    errors: tuple[str, ...]


def _reads_action(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("Var") == "action" or any(_reads_action(v) for v in node.values())
    if isinstance(node, list):
        return any(_reads_action(v) for v in node)
    return False


def _failed_policies(errors: list[str]) -> list[tuple[str, str]] | None:
    """(policy id, message) of each error; None if one of them names no policy."""
    failed = []
    for error in errors:
        named = POLICY_ERROR.match(error)
        if named is None:
            return None
        failed.append((named.group(1), error))
    return failed


def _policy_set(policies: dict[str, Any]) -> cedarpy.PolicySet:
    # The JSON form keeps each policy's id and the order given (Cedar reports errors in it).
    return cedarpy.PolicySet.from_json_str(
        json.dumps({"staticPolicies": policies, "templates": {}, "templateLinks": []})
    )


class ActionFold:
    """One Cedar request per (principal, resource, facts) of a batch, whatever its actions."""

    @classmethod
    def of(cls, parsed: dict[str, Any]) -> ActionFold | None:
        """For a policy set in JSON form (`cedarpy.policies_to_json_str`); None when folding could
        change a verdict: a condition reads `action`, or the set has templates."""
        if parsed.get("templates") or parsed.get("templateLinks"):
            return None
        policies: dict[str, Any] = parsed.get("staticPolicies", {})
        if any(_reads_action(p.get("conditions", [])) for p in policies.values()):
            return None
        return cls(policies)

    def __init__(self, policies: dict[str, Any]) -> None:
        self._order = list(policies)
        self._permits = {pid for pid, p in policies.items() if p["effect"] == "permit"}
        self._unscoped = {pid: {**p, "effect": "permit", "action": UNCONSTRAINED} for pid, p in policies.items()}
        scopes_only = {
            pid: {
                "effect": "permit",
                "principal": UNCONSTRAINED,
                "action": p["action"],
                "resource": UNCONSTRAINED,
                "conditions": [],
            }
            for pid, p in policies.items()
        }
        self._scopes = _policy_set(scopes_only)
        self._applicable: dict[tuple[str, str], frozenset[str]] = {}
        self._folded_sets: dict[frozenset[str], cedarpy.PolicySet] = {}
        self._reaches: dict[tuple[frozenset[str], ...], frozenset[str]] = {}

    def authorize(self, requests: Sequence[dict[str, Any]], entities: cedarpy.Entities) -> list[FoldedVerdict] | None:
        """Verdicts of `requests` (principal, action, resource as uid dicts, context as JSON text),
        as Cedar would give them one by one against the whole set, without the schema; None if
        Cedar reported an error that names no policy (the caller then asks as usual)."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        applies: list[frozenset[str]] = []
        known = self._applicable
        for index, request in enumerate(requests):
            principal, action, resource = request["principal"], request["action"], request["resource"]
            key = (principal["type"], principal["id"], resource["type"], resource["id"], request["context"])
            groups.setdefault(key, []).append(index)
            reach = known.get((action["type"], action["id"]))
            applies.append(self._applies(request, entities) if reach is None else reach)
        # Groups whose actions reach the same policies share one call.
        calls: dict[frozenset[str], list[list[int]]] = {}
        for indexes in groups.values():
            calls.setdefault(self._reach(tuple(applies[i] for i in indexes)), []).append(indexes)
        verdicts: dict[int, FoldedVerdict] = {}
        for reach, members in calls.items():
            asked = [requests[indexes[0]] for indexes in members]
            results = cedarpy.is_authorized_batch(asked, self._folded_set(reach), entities, None)
            for indexes, result in zip(members, results, strict=True):
                diagnostics = result.diagnostics
                failed = _failed_policies(diagnostics.errors)
                if failed is None:
                    return None
                held = diagnostics.reasons
                for i in indexes:
                    verdicts[i] = self._verdict(applies[i], held, failed)
        return [verdicts[i] for i in range(len(requests))]

    def _verdict(self, applies: frozenset[str], held: list[str], failed: list[tuple[str, str]]) -> FoldedVerdict:
        permits = tuple(p for p in held if p in applies and p in self._permits)
        forbids = tuple(p for p in held if p in applies and p not in self._permits)
        allowed = bool(permits) and not forbids
        errors = tuple(e for p, e in failed if p in applies) if failed else ()
        return FoldedVerdict(allowed, permits if allowed else forbids, errors)

    def _applies(self, request: dict[str, Any], entities: cedarpy.Entities) -> frozenset[str]:
        """The policies whose action scope holds for the request's action. The hierarchy of
        actions comes from the schema the entity sets are built with, the same for every set,
        so this is asked once per action."""
        action = request["action"]
        probe = {"principal": request["principal"], "action": action, "resource": request["resource"]}
        result = cedarpy.is_authorized_batch([{**probe, "context": "{}"}], self._scopes, entities, None)[0]
        found = frozenset(result.diagnostics.reasons)
        if len(self._applicable) < ACTIONS_CACHED:
            self._applicable[(action["type"], action["id"])] = found
        return found

    def _reach(self, applies: tuple[frozenset[str], ...]) -> frozenset[str]:
        """The policies some of these actions reach; kept, so its set is found by identity."""
        reach = self._reaches.get(applies)
        if reach is None:
            reach = frozenset().union(*applies)
            if len(self._reaches) < POLICY_SETS_CACHED:
                self._reaches[applies] = reach
        return reach

    def _folded_set(self, reach: frozenset[str]) -> cedarpy.PolicySet:
        handle = self._folded_sets.get(reach)
        if handle is None:
            handle = _policy_set({pid: self._unscoped[pid] for pid in self._order if pid in reach})
            if len(self._folded_sets) < POLICY_SETS_CACHED:
                self._folded_sets[reach] = handle
        return handle
