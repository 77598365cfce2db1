"""A model built from fields a hot path has just checked, without pydantic validating them again.

For the webhook's per-alert models only: there validation was a sixth of an alert's cost, and
pydantic's own `model_construct` costs more than validating. The caller vouches that every value
already is of its field's declared type, in declaration order, in containers made for this
instance alone; tests hold each use equal to `model_validate` (fields, fields set, extras,
private state, bytes). It sets what pydantic's validation sets on an instance.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def assemble(
    model: type[M], fields: dict[str, Any], *, fields_set: Set[str], private: dict[str, Any] | None = None
) -> M:
    """`model(**fields)` as validation would leave it, where `fields_set` are the fields the caller
    passed (the rest being their defaults, already in `fields`). `private`: the private attributes'
    initial state, for a model that has some, given by the model's own module (cheaper than
    `model_post_init`, which validation calls and which is called here without it)."""
    instance = model.__new__(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(fields_set))
    _set(instance, "__pydantic_extra__", {} if model.model_config.get("extra") == "allow" else None)
    _set(instance, "__pydantic_private__", private)
    if private is None and model.__pydantic_post_init__:  # validation calls it last; it sets private attributes
        instance.model_post_init(None)
    return instance
