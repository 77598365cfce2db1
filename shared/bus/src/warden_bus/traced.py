"""Span decorators for adapters: tool calls, LLM calls, policy evaluation, elevation and actions.

Domain code stays free of tracing; the adapter that does the I/O carries one decorator line:

    @traced.tool_call("get_service")
    async def get_service(self, name: str) -> dict[str, Any]: ...

Attributes come from arguments and results only through the describers below, which record
names, counts and ids — never tool answers, prompt text or credentials.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from opentelemetry.trace import Span

from warden_bus.tracing import active, clean_attributes, tracer

Describe = Callable[..., Mapping[str, Any]]
F = TypeVar("F", bound=Callable[..., Any])


def span_around(name: str, call: Describe | None = None, result: Describe | None = None) -> Callable[[F], F]:
    """Decorate an adapter method (sync or async) with a span: `call(*args, **kwargs)` names its
    attributes from the arguments, `result(value)` from what it returned (token counts, status).

    For adapters only: domain code stays free of tracing, the adapter around it records the work."""

    def decorate(fn: F) -> F:
        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            attrs = clean_attributes(call(*args, **kwargs)) if call else {}
            return tracer().start_as_current_span(name, attributes=attrs)

        def finish(current: Span, value: Any) -> None:
            if result is not None:
                current.set_attributes(clean_attributes(result(value)))

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if not active():  # nobody collects spans: no describer work either
                    return await fn(*args, **kwargs)
                with start(args, kwargs) as current:
                    value = await fn(*args, **kwargs)
                    finish(current, value)
                    return value

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not active():
                return fn(*args, **kwargs)
            with start(args, kwargs) as current:
                value = fn(*args, **kwargs)
                finish(current, value)
                return value

        return cast(F, wrapper)

    return decorate


def tool_call(tool: str) -> Callable[[F], F]:
    """A read-only tool call (`method(self, target, ...)`): the tool and its target, never the answer."""
    return span_around(
        f"tool.{tool}", call=lambda _self, target=None, *_a, **_k: {"warden.tool": tool, "warden.target": target}
    )


def llm_call(system: str) -> Callable[[F], F]:
    """An LLM completion (`complete(self, messages, tools)`): model and token counts, never prompt text."""
    return span_around(
        "llm.chat",
        call=lambda self, messages, *_a, **_k: {
            "gen_ai.system": system,
            "gen_ai.request.model": getattr(self, "name", None),
            "gen_ai.request.message_count": len(messages),
        },
        result=lambda turn: {
            "gen_ai.usage.input_tokens": getattr(turn, "prompt_tokens", None),
            "gen_ai.usage.output_tokens": getattr(turn, "completion_tokens", None),
            "gen_ai.response.tool_calls": len(getattr(turn, "tool_calls", None) or []),
        },
    )


def action_call(operation: str) -> Callable[[F], F]:
    """An executor call on a target: `act(self, kind, target, params, grant)` or `observe(self, target)`."""
    if operation == "act":
        return span_around(
            "action.act",
            call=lambda _self, kind, target, *_a, **_k: {"warden.action.kind": kind, "warden.target": target},
        )
    return span_around(f"action.{operation}", call=lambda _self, target, *_a, **_k: {"warden.target": target})


def elevation_call(operation: str) -> Callable[[F], F]:
    """Just-in-time elevation (`elevate` -> a grant, `release(grant)`): grant id and expiry, never material."""
    return span_around(
        f"elevation.{operation}",
        call=lambda _self, *args, **_k: {"warden.grant_id": getattr(args[0], "grant_id", None) if args else None},
        result=lambda grant: {
            "warden.grant_id": getattr(grant, "grant_id", None),
            "warden.elevation.expires_at": getattr(grant, "expires_at", None),
        },
    )


def policy_evaluation() -> Callable[[F], F]:
    """A batch of policy questions (`evaluate(self, questions)` -> verdicts with `allowed`)."""
    return span_around(
        "policy.evaluate",
        call=lambda _self, questions, *_a, **_k: {"warden.policy.questions": len(questions)},
        result=lambda verdicts: {
            "warden.policy.allowed": sum(1 for v in verdicts if getattr(v, "allowed", False)),
            "warden.policy.errors": sum(1 for v in verdicts if getattr(v, "errors", ())),
        },
    )
