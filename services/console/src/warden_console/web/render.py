"""Jinja2 rendering (autoescaped) and the small view helpers the templates share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from warden_console.web.sessions import current

ENV_KEY: web.AppKey[jinja2.Environment] = web.AppKey("jinja", jinja2.Environment)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("warden_console", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["countdown"] = countdown
    env.filters["utc"] = utc_text
    env.filters["metric"] = metric_text
    env.filters["percent"] = percent
    env.globals["result_view"] = result_view
    return env


def utc_text(value: Any) -> str:
    """Readable UTC for the page as served; console.js turns each <time> into local + relative."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def metric_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def percent(value: Any) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


@dataclass(frozen=True)
class ResultView:
    facts: list[tuple[str, Any]]
    tables: list[tuple[str, list[str], list[list[Any]]]]
    nested: bool


def result_view(result: Any) -> ResultView:
    """A tool's answer as facts (scalars) and tables (lists of objects); anything deeper stays in
    the folded raw JSON."""
    facts: list[tuple[str, Any]] = []
    tables: list[tuple[str, list[str], list[list[Any]]]] = []
    nested = False
    for key, value in (result or {}).items() if isinstance(result, Mapping) else ():
        if isinstance(value, str | int | float | bool) or value is None:
            facts.append((str(key), value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            columns = list(dict.fromkeys(str(k) for v in value for k in v))[:8]
            tables.append((str(key), columns, [[v.get(c) for c in columns] for v in value[:50]]))
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            facts.append((str(key), ", ".join(str(v) for v in value[:50])))
        else:
            nested = True
    return ResultView(facts, tables, nested)


def countdown(seconds: int) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def card_preview(card: Any) -> list[tuple[str, str]]:
    """(label, text) lines from an Adaptive Card's TextBlocks and FactSets, for a read-only preview."""
    lines: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "TextBlock" and node.get("text"):
                lines.append(("", str(node["text"])))
            if node.get("type") == "FactSet":
                lines.extend((str(f.get("title", "")), str(f.get("value", ""))) for f in node.get("facts", []))
            for key in ("body", "items", "columns"):
                for child in node.get(key) or []:
                    walk(child)

    walk(card)
    return lines


def page(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    session = current(request)
    body = request.app[ENV_KEY].get_template(template).render(
        me=session.principal if session else None,
        csrf=session.csrf if session else "",
        path=request.path,
        **context,
    )
    return web.Response(text=body, content_type="text/html", status=http_status)
