"""Command groups whose commands are imported only when they run.

`warden --help` must not pay for importing every service, SDK and benchmark: the listing is drawn
from the one-line help stored next to each entry, and a command's module is imported when the
command is resolved (run, or asked for its own `--help`). A test renders the help both ways and
checks that the stored lines match what the real commands say.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """`target` is "module:attribute", a command function or a `typer.Typer` sub-application.

    `requires` names a dev-only distribution's import package; if it is not installed the command
    fails with one line saying so instead of a traceback.
    """

    target: str
    help: str
    requires: str | None = None


def load(name: str, entry: Lazy, rich_markup_mode: Any = None) -> Any:
    """The click command `name` built exactly as `app.command(name)` / `app.add_typer(name=name)` would
    (inside a group whose help is rendered with `rich_markup_mode`, which its commands inherit)."""
    module_name, _, attribute = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if entry.requires and (err.name or "").split(".")[0] == entry.requires:
            typer.secho(
                f"`{name}` needs the dev-only package {entry.requires} (under tools/): run `uv sync` in the workspace",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1) from None
        raise
    obj: Any = getattr(module, attribute)
    # A holder with a callback is always built as a group, so the command comes out as it would
    # inside any group (no completion options, a one-command sub-app stays a group).
    holder = typer.Typer(add_completion=False, rich_markup_mode=rich_markup_mode)
    holder.callback()(_nothing)
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
    else:
        holder.command(name)(obj)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


def _nothing() -> None:
    pass


def lazy_group(entries: dict[str, Lazy]) -> type[TyperGroup]:
    """A `TyperGroup` class (for `typer.Typer(cls=...)`) that adds `entries` after its eager commands."""

    class LazyGroup(TyperGroup):
        _listing = False

        def list_commands(self, ctx: Any) -> list[str]:
            eager = super().list_commands(ctx)
            return eager + [name for name in entries if name not in eager]

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            if cmd_name in self.commands or cmd_name not in entries:
                return super().get_command(ctx, cmd_name)
            entry = entries[cmd_name]
            if self._listing:
                return TyperCommand(cmd_name, help=entry.help)
            self.commands[cmd_name] = load(cmd_name, entry, self.rich_markup_mode)
            return self.commands[cmd_name]

        def format_help(self, ctx: Any, formatter: Any) -> None:
            self._listing = True
            try:
                super().format_help(ctx, formatter)
            finally:
                self._listing = False

    return LazyGroup
