"""What a Cedar verdict can depend on, so the adapter may reuse one: the shape of a request's facts
(the schema checks names and value types only), and whether the policy can tell two targets with
the same attributes apart (only by naming one: an entity literal of the target type)."""

from __future__ import annotations

from typing import Any

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # Cedar's long


def _value_shape(value: Any) -> Any:
    if isinstance(value, list):
        return ("set", tuple(sorted({repr(_value_shape(v)) for v in value})))
    if isinstance(value, dict):
        if "__entity" in value:
            return ("entity", value["__entity"]["type"])
        return ("record", tuple(sorted((k, repr(_value_shape(v))) for k, v in value.items())))
    if isinstance(value, int) and not isinstance(value, bool) and not LONG_MIN <= value <= LONG_MAX:
        return ("out_of_range_long",)  # never cached as valid: Cedar refuses it
    return type(value).__name__


# The shape of a plain string, boolean or long as `value_shape` gives it, without the call.
SCALAR_SHAPES = {str: repr("str"), bool: repr("bool"), int: repr("int")}


def value_shape(value: Any) -> str:
    """What the schema checks about one value of a context (as Cedar JSON): its type. A
    context's shape is its attribute names, each with the shape of its value."""
    return repr(_value_shape(value))


def _names_entity_of(node: Any, entity_type: str) -> bool:
    if isinstance(node, dict):
        if node.get("type") == entity_type and "id" in node:
            return True
        return any(_names_entity_of(v, entity_type) for v in node.values())
    if isinstance(node, list):
        return any(_names_entity_of(v, entity_type) for v in node)
    return False


def names_entities_of(policy_json: dict[str, Any], entity_type: str) -> bool:
    """True if a policy (JSON form, `cedarpy.policies_to_json_str`) names an entity of
    `entity_type` (in its scope, a condition or a set), or the policy set has templates (whose
    slots are filled with named entities). Otherwise Cedar can compare such an entity only with
    itself: nothing else of that type is in a request, its id is never turned into a value, so
    renaming it cannot change a decision."""
    if policy_json.get("templates") or policy_json.get("templateLinks"):
        return True
    return _names_entity_of(policy_json.get("staticPolicies", {}), entity_type)
