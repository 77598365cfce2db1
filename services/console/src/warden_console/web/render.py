"""Jinja2 rendering (autoescaped) and the small view helpers the templates share."""

from __future__ import annotations

from collections.abc import Mapping
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
    return env


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
