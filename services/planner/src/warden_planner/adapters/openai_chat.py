"""The ChatModel port over the `openai` SDK: any OpenAI-compatible endpoint or Azure OpenAI.

Azure OpenAI authenticates with a managed identity (an Entra token provider), never a key; an
OpenAI-compatible endpoint takes its key from the settings (the environment).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI
from warden_bus import traced

from warden_planner.domain.llm.model import ModelError, ModelTurn, ToolCall

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"


class OpenAIChatModel:
    def __init__(
        self, client: AsyncOpenAI, model: str, *, max_completion_tokens: int = 1500, temperature: float = 0.0
    ) -> None:
        self._client = client
        self.name = model
        self._max_completion_tokens = max_completion_tokens
        self._temperature = temperature

    @traced.llm_call("openai")
    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn:
        try:
            # Messages and tools are plain dicts in the documented wire shape; the SDK's TypedDicts
            # describe the same JSON.
            response = await self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.name,
                messages=messages,
                tools=tools,
                tool_choice="auto",
                temperature=self._temperature,
                max_completion_tokens=self._max_completion_tokens,
            )
        except openai.OpenAIError as err:
            raise ModelError(f"{type(err).__name__}: {str(err)[:300]}") from None
        if not response.choices:
            raise ModelError("the completion has no choices")
        message = response.choices[0].message
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        usage = response.usage
        return ModelTurn(
            content=message.content,
            tool_calls=calls,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def close(self) -> None:
        await self._client.close()


def openai_compatible(base_url: str, api_key: str | None, *, timeout_s: float) -> AsyncOpenAI:
    # Retries are the ReAct loop's budget to spend, not the SDK's.
    return AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=0)


def azure_openai(
    endpoint: str, api_version: str, token_provider: Callable[[], Awaitable[str]], *, timeout_s: float
) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=api_version,
        azure_ad_token_provider=token_provider,
        timeout=timeout_s,
        max_retries=0,
    )


def managed_identity_token_provider(client_id: str | None) -> Callable[[], Awaitable[str]]:
    from azure.identity.aio import ManagedIdentityCredential, get_bearer_token_provider

    return get_bearer_token_provider(ManagedIdentityCredential(client_id=client_id), COGNITIVE_SCOPE)
