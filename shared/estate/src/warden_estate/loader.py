"""Read `warden.yaml` keeping line numbers, validate it, cross-check it.

PyYAML's composer gives every node its start mark; the document is built from those nodes so
that each path (`services[2].owner`) knows its line, and every problem, whether the schema's or a
cross-check's, names the file, the line and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warden_estate.checks import cross_check
from warden_estate.problems import EstateInvalid, Lines, PathKey, Problem, dotted
from warden_estate.schema import SCHEMA_VERSION, Estate


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines = Lines()
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalars.construct_object(key_node, deep=True)
                if not isinstance(key, str | int):
                    key = str(key)
                here = (*path, str(key))
                if key in out:
                    self.problems.append(
                        Problem(
                            self.file,
                            key_node.start_mark.line + 1,
                            dotted(here),
                            f"the key {key!r} appears twice (line {self.lines.of(here)} and here)",
                            "keep one of them; YAML would silently drop the first",
                        )
                    )
                self.lines.record(here, key_node.start_mark.line + 1)
                out[key] = self.build(value_node, here)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines.record((*path, index), item.start_mark.line + 1)
                items.append(self.build(item, (*path, index)))
            return items
        return self._scalars.construct_object(node, deep=True)


def _fix_for(error: dict[str, Any], path: PathKey) -> str:
    kind, field = error["type"], str(path[-1]) if path else ""
    if kind == "missing":
        if field == "owner":
            return "add `owner: <team that is paged>` to this service"
        if field == "environment":
            return "add `environment: dev | staging | prod` to this service"
        if field == "version":
            return f"add `version: {SCHEMA_VERSION}` as the first line"
        return f"add `{field}:` here (see the comments `warden init` writes)"
    if kind == "extra_forbidden":
        return f"remove `{field}` or correct its spelling (`warden init` writes every known key)"
    if kind in {"literal_error", "enum"}:
        return f"use one of {error.get('ctx', {}).get('expected', 'the allowed values')}"
    if kind == "string_pattern_mismatch" and field == "name":
        return "use lowercase letters, digits and dashes, optionally `namespace/name`"
    if kind == "too_short":
        return "give at least one entry"
    return "correct the value (see the comments `warden init` writes)"


def parse_estate(text: str, file: str = "warden.yaml") -> tuple[Estate, Lines]:
    """Validate and cross-check one document; raise `EstateInvalid` listing every problem found."""
    builder = _Builder(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise EstateInvalid(
            [Problem(file, line, "", f"not valid YAML: {getattr(err, 'problem', err)}", "fix the YAML syntax here")]
        ) from None
    document = builder.build(node, ()) if node is not None else None
    if not isinstance(document, dict):
        raise EstateInvalid(
            [Problem(file, 1, "", "the estate must be a YAML mapping", "start from `warden init PATH`")]
        )
    problems = list(builder.problems)
    if document.get("version") not in (None, SCHEMA_VERSION):
        found = document.get("version")
        line = builder.lines.of(("version",))
        raise EstateInvalid(
            [
                Problem(
                    file, line, "version", f"unsupported schema version {found!r}", f"use `version: {SCHEMA_VERSION}`"
                )
            ]
        )
    try:
        estate = Estate.model_validate(document)
    except ValidationError as err:
        for error in err.errors():
            path = tuple(error["loc"])
            problems.append(
                Problem(file, builder.lines.of(path), dotted(path), error["msg"], _fix_for(dict(error), path))
            )
        raise EstateInvalid(problems) from None
    problems.extend(cross_check(estate, builder.lines, file))
    if problems:
        raise EstateInvalid(problems)
    return estate, builder.lines


def load_estate(path: Path) -> Estate:
    try:
        text = path.read_text()
    except OSError as err:
        raise EstateInvalid(
            [Problem(str(path), 1, "", f"cannot read the estate file: {err.strerror}", "create it with `warden init`")]
        ) from None
    return parse_estate(text, str(path))[0]
