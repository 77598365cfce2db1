"""One error boundary for every `warden` command: a mistake is one line on stderr, never a traceback.

Commands raise what they meet (a missing file, a stopped stack, a refused request, a bad option)
and the shell's group turns it into `warden <command>: <what went wrong>` with a non-zero exit,
so no command needs its own try/except for the usual failures. `WARDEN_DEBUG=1` lets an
exception through with its traceback, and lets library log records reach stderr.

Imported by the shell itself, so it imports nothing heavy: exception types from the bus or HTTP
libraries are recognised by module name, not imported.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import typer
from typer import _click as click  # Typer's vendored click: its exceptions are what commands raise
from typer.core import TyperGroup

DEBUG_ENV = "WARDEN_DEBUG"
_UNREACHABLE_MODULES = ("nats", "aiohttp")  # connection failures from these mean the stack is not up


class UserError(Exception):
    """A mistake the user can fix; its message is printed as it is, one line."""


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in {"", "0"}


def describe(err: BaseException) -> str:
    """The one line shown for `err`."""
    if isinstance(err, UserError):
        text = str(err)
    elif isinstance(err, click.exceptions.ClickException):
        text = err.format_message()
        if isinstance(err, click.exceptions.UsageError) and err.ctx is not None:
            text += f" (see `{err.ctx.command_path} --help`)"
    elif isinstance(err, OSError) and err.filename is not None:
        text = f"{err.strerror or 'cannot open'}: {err.filename}"
    elif isinstance(err, TimeoutError) or _from(err, _UNREACHABLE_MODULES) or isinstance(err, ConnectionError):
        text = f"cannot reach the stack ({str(err) or type(err).__name__}); is `warden up` running?"
    elif isinstance(err, OSError | ValueError | LookupError | RuntimeError) and str(err):
        text = str(err)
    else:
        text = f"unexpected {type(err).__name__}: {err} (run with {DEBUG_ENV}=1 for the traceback)"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _from(err: BaseException, modules: tuple[str, ...]) -> bool:
    return any(cls.__module__.split(".")[0] in modules for cls in type(err).__mro__)


def _command_path(group: Any, ctx: Any, args: list[str]) -> str:
    words, command = [ctx.command_path or "warden"], group
    for arg in args:
        sub = command.get_command(ctx, arg) if hasattr(command, "get_command") and not arg.startswith("-") else None
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


def quiet_library_logs() -> None:
    """Libraries log through `logging`; with no handler Python prints their warnings on stderr
    (e.g. one line per NATS reconnect attempt). A command speaks through its own output."""
    root = logging.getLogger()
    if debugging():
        logging.basicConfig(level=logging.DEBUG)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def guarded(group: type[TyperGroup]) -> type[TyperGroup]:
    """`group` with the error boundary around every command it runs."""

    class Guarded(group):  # type: ignore[valid-type, misc]
        def invoke(self, ctx: Any) -> Any:
            args = [*ctx._protected_args, *ctx.args]
            quiet_library_logs()
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort, click.exceptions.NoArgsIsHelpError):
                raise
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise
            except Exception as err:
                if debugging():
                    raise
                typer.secho(f"{_command_path(self, ctx, args)}: {describe(err)}", fg=typer.colors.RED, err=True)
                code = err.exit_code if isinstance(err, click.exceptions.ClickException) else 1
                raise typer.Exit(code or 1) from None

    return Guarded
