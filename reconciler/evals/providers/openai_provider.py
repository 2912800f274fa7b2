"""The live provider: the official `openai` client against any OpenAI-compatible endpoint.

The endpoint comes from ``ALM_OPENAI_BASE_URL`` or ``OPENAI_BASE_URL`` (OpenAI itself when
neither is set: vLLM, Ollama or a gateway otherwise) and the key from ``OPENAI_API_KEY``.
The key is handed to the client and never printed, logged or stored. The client does not
retry (``max_retries=0``): the engine retries, with a rate limit shared by all cases.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # the client is imported on the first live call: ~0.7 s every command saves
    import openai
    from openai import AsyncOpenAI

from reconciler.evals.types import ChatRequest, ChatResponse, ProviderError
from reconciler.pricing import TokenUsage

BASE_URL_VARIABLES = ("ALM_OPENAI_BASE_URL", "OPENAI_BASE_URL")
KEY_VARIABLE = "OPENAI_API_KEY"
DEFAULT_TIMEOUT_S = 120.0


def _base_url(env: Mapping[str, str]) -> str | None:
    return next((env[v] for v in BASE_URL_VARIABLES if env.get(v)), None)


class OpenAIProvider:
    """Sends ChatRequests to /chat/completions and maps failures to ProviderError."""

    def __init__(self, client: AsyncOpenAI, name: str = "openai", custom_endpoint: bool = False):
        self.name = name
        self.custom_endpoint = custom_endpoint  # provenance says "custom", never the host
        self._client = client

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, name: str = "openai", timeout_s: float = 0.0
    ) -> OpenAIProvider:
        env = os.environ if env is None else env
        key = cls.check_env(env)
        base_url = _base_url(env)
        from openai import AsyncOpenAI

        client = AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s or DEFAULT_TIMEOUT_S,
            http_client=_http_client(),
        )
        return cls(client, name=name, custom_endpoint=base_url is not None)

    @staticmethod
    def endpoint(env: Mapping[str, str]) -> str:
        return _base_url(env) or "default"

    @staticmethod
    def check_env(env: Mapping[str, str]) -> str:
        """The key a client needs; ProviderError, saying so, when it is missing. Imports
        and builds nothing: a run checks this once before it forks its workers."""
        key = env.get(KEY_VARIABLE)
        if not key:
            raise ProviderError(f"live model calls need {KEY_VARIABLE} in the environment")
        return key

    @staticmethod
    def preload() -> None:
        """The client imported (about half a second; its aiohttp transport with it)."""
        import openai  # noqa: F401

    async def complete(self, request: ChatRequest) -> ChatResponse:
        import openai

        started = time.perf_counter()
        try:
            # the client's generic post(): the body is ours, already JSON, so the client
            # skips its per-field request transform (most of its CPU cost per call)
            raw = await self._client.post(
                "/chat/completions",
                cast_to=bytes,
                content=msgspec.json.encode(_arguments(request)),
                options={"headers": {"Content-Type": "application/json"}},
            )
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"{self.name}: {exc.message}", retryable=True) from None
        return self._response(raw, time.perf_counter() - started)

    def _response(self, raw: bytes, latency_s: float) -> ChatResponse:
        try:
            body = msgspec.json.decode(raw)
            choice = body["choices"][0]
            message = assistant_message(choice["message"])
            usage = body.get("usage") or {}
            details = usage.get("prompt_tokens_details") or {}
            tokens = TokenUsage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                cached_input_tokens=int(details.get("cached_tokens") or 0),
            )
        except (ValueError, RecursionError, LookupError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"{self.name}: unexpected response: {exc!r}", retryable=True
            ) from None
        return ChatResponse(
            message=message,
            usage=tokens,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            latency_s=latency_s,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _http_client() -> Any:
    """The client's own aiohttp transport (the ``openai[aiohttp]`` extra): about half the
    CPU per call of its default one. None (the default) where this openai lacks it."""
    import openai

    try:
        return openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # older openai, or aiohttp not installed
        return None


def _arguments(request: ChatRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
    if request.tools:
        arguments["tools"] = list(request.tools)
    if request.tool_choice is not None:
        arguments["tool_choice"] = request.tool_choice
    arguments.update(request.params)
    return arguments


def assistant_message(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical assistant message: the next request's key depends on its exact shape."""
    message: dict[str, Any] = {"role": "assistant", "content": raw.get("content")}
    calls = [
        {
            "id": call.get("id", ""),
            "type": "function",
            "function": {
                "name": call.get("function", {}).get("name", ""),
                "arguments": call.get("function", {}).get("arguments") or "{}",
            },
        }
        for call in raw.get("tool_calls") or []
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    status = exc.status_code
    retryable = status == 429 or status >= 500 or status in (408, 409)
    retry_after = retry_after_s(exc.response.headers) if retryable else None
    return ProviderError(
        f"HTTP {status} from the model endpoint: {exc.message}",
        retryable=retryable,
        retry_after=retry_after,
    )


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from retry-after-ms, or Retry-After as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
