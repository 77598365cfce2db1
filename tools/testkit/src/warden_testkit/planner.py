"""An in-memory Observer for runbook fixtures, evaluations and tests (no network, records calls)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from warden_planner.domain.llm.model import ModelTurn, ToolCall
from warden_planner.domain.observer import ObserverError


def healthy_service(name: str, **fields: Any) -> dict[str, Any]:
    """A healthy service as the sandbox shows it (every signal well inside its limits); `fields` override."""
    view = {
        "name": name,
        "environment": "dev",
        "resource_group": "rg-shop",
        "replicas": 2,
        "version": "v1.4.0",
        "previous_version": "v1.3.2",
        "healthy": 1,
        "memory_pct": 45.0,
        "error_rate": 0.002,
        "latency_ms": 120.0,
        "queue_depth": 0,
        "disk_pct": 40.0,
        "cert_days_left": 120,
        "restarts": 0,
        "dependencies": [],
        "owner": "team-shop",
    }
    return view | fields


class InMemoryObserver:
    """The ObserverTools port over dictionaries shaped like the sandbox's answers."""

    def __init__(
        self,
        services: dict[str, dict[str, Any]],
        deployments: dict[str, list[dict[str, Any]]] | None = None,
        logs: dict[str, list[str]] | None = None,
    ) -> None:
        self.services = services
        self.deployments = deployments or {}
        self.logs = logs or {}
        self.calls: list[tuple[str, str]] = []

    def _view(self, name: str) -> dict[str, Any]:
        if name not in self.services:
            raise ObserverError(f"service {name!r} is unknown")
        return dict(self.services[name])

    async def get_service(self, name: str) -> dict[str, Any]:
        self.calls.append(("get_service", name))
        return self._view(name)

    async def get_deployments(self, name: str) -> list[dict[str, Any]]:
        self.calls.append(("get_deployments", name))
        self._view(name)
        return list(self.deployments.get(name, []))

    async def get_logs(self, name: str, limit: int) -> list[str]:
        self.calls.append(("get_logs", name))
        self._view(name)
        return self.logs.get(name, [])[-limit:]

    async def get_dependencies(self, name: str) -> dict[str, list[dict[str, Any]]]:
        self.calls.append(("get_dependencies", name))
        called = [d for d in self._view(name).get("dependencies", []) if d in self.services]
        callers = [n for n, v in self.services.items() if name in v.get("dependencies", [])]
        return {
            "dependencies": [self._summary(d) for d in called],
            "dependents": [self._summary(c) for c in callers],
        }

    async def get_owner(self, name: str) -> dict[str, Any]:
        self.calls.append(("get_owner", name))
        return {"service": name, "owner": str(self._view(name).get("owner", "unknown"))}

    def _summary(self, name: str) -> dict[str, Any]:
        view = self.services[name]
        history = self.deployments.get(name, [])
        keys = ("name", "healthy", "error_rate", "latency_ms", "version")
        return {**{k: view.get(k) for k in keys}, "last_deployed_at": history[-1]["at"] if history else None}


class ChatDouble:
    """A local OpenAI-compatible `/v1/chat/completions` endpoint that answers from scripts.

    A script is chosen by a key found in the conversation's first user message (the incident: its
    service name, say); the turn is the number of assistant messages already in the request, so
    the double is stateless and any client retry sees the same answer. Turns:
      {"call": [{"name": tool, "arguments": {...} or "raw text"}]}  tool calls, hostile ones included
      {"answer": {...}}  the final JSON; "evidence_refs": "$refs" (in an action, or at the top of a
                         recovered answer) cites every ref the tools returned
      {"say": "text"}    raw content (prose, broken JSON)
      {"status": 500}    an HTTP error;  "delay_s": seconds before answering (any turn)
    """

    def __init__(self, scripts: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.scripts: dict[str, list[dict[str, Any]]] = dict(scripts or {})
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._complete)
        # Azure OpenAI's route for the same operation (deployment in the path, api-version in the query).
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def script_for(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        first = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
        # Longest key first, so "cache" does not capture "cache-redis"'s conversation.
        for key in sorted(self.scripts, key=len, reverse=True):
            if key in first:
                return self.scripts[key]
        return []

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()} | {"path": request.path_qs})
        messages = body.get("messages", [])
        script = self.script_for(messages)
        index = sum(1 for m in messages if m.get("role") == "assistant")
        turn = script[index] if index < len(script) else {"say": "I have nothing further."}
        if turn.get("delay_s"):
            await asyncio.sleep(float(turn["delay_s"]))
        if "status" in turn:
            return web.json_response({"error": {"message": "scripted failure"}}, status=int(turn["status"]))
        return web.json_response(_completion(body.get("model", "double"), turn, messages, index))


def _arguments(call: dict[str, Any]) -> str:
    raw = call.get("arguments", {})
    return raw if isinstance(raw, str) else json.dumps(raw)


def _completion(model: str, turn: dict[str, Any], messages: list[dict[str, Any]], index: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if "call" in turn:
        finish = "tool_calls"
        message["content"] = turn.get("say")  # optional reasoning text alongside the calls
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{n}",
                "type": "function",
                "function": {"name": c["name"], "arguments": _arguments(c)},
            }
            for n, c in enumerate(turn["call"])
        ]
    elif "answer" in turn:
        message["content"] = json.dumps(_cite(turn["answer"], _refs(messages)))
    else:
        message["content"] = str(turn.get("say", ""))
    prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
    completion = len(json.dumps(message)) // 4
    usage = turn.get("usage") or {"prompt_tokens": prompt, "completion_tokens": completion}
    return {
        "id": f"chatcmpl-double-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
    }


def _refs(messages: list[dict[str, Any]]) -> list[str]:
    refs = []
    for m in messages:
        if m.get("role") == "tool":
            try:
                ref = json.loads(m.get("content") or "{}").get("evidence_ref")
            except ValueError:
                continue
            if isinstance(ref, str):
                refs.append(ref)
    return refs


def _cite(answer: dict[str, Any], refs: list[str]) -> dict[str, Any]:
    actions = [
        {**a, "evidence_refs": refs} if a.get("evidence_refs") == "$refs" else a for a in answer.get("actions", [])
    ]
    cited = {**answer, "actions": actions} if "actions" in answer else dict(answer)
    if cited.get("evidence_refs") == "$refs":  # a "recovered" answer cites at the top level
        cited["evidence_refs"] = refs
    return cited


class ScriptedChatModel:
    """The ChatModel port in-process, with ChatDouble's script format: the LLM loop without the network."""

    def __init__(self, scripts: dict[str, list[dict[str, Any]]], name: str = "scripted") -> None:
        self._double = ChatDouble(scripts)
        self.name = name

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn:
        script = self._double.script_for(messages)
        index = sum(1 for m in messages if m.get("role") == "assistant")
        turn = script[index] if index < len(script) else {"say": "I have nothing further."}
        body = _completion(self.name, turn, messages, index)
        message, usage = body["choices"][0]["message"], body["usage"]
        calls = [
            ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
            for c in message.get("tool_calls") or []
        ]
        return ModelTurn(message["content"], calls, usage["prompt_tokens"], usage["completion_tokens"])
