"""Helpers for provider tests: run a stream to completion and keep what arrived before any error."""
import asyncio
from dataclasses import dataclass, field

from providers.base import ChatMessage, ChatRequest
from providers.events import EventKind, StreamEvent

ALL_PROVIDERS = ("openrouter", "openai", "anthropic", "gemini", "xai", "perplexity", "deepseek", "ollama")
OPENAI_COMPATIBLE = ("openrouter", "openai", "xai", "perplexity", "deepseek", "ollama")


def model_name(provider: str, behaviour: str) -> str:
    return f"openrouter/fake/{behaviour}" if provider == "openrouter" else f"{provider}/{behaviour}"


@dataclass
class Outcome:
    events: list[StreamEvent] = field(default_factory=list)
    error: Exception | None = None

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if e.kind is EventKind.TEXT)

    @property
    def reasoning(self) -> str:
        return "".join(e.text for e in self.events if e.kind is EventKind.REASONING)

    def of(self, kind: EventKind) -> list[StreamEvent]:
        return [e for e in self.events if e.kind is kind]


def ask(text: str = "hello there", **params) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], params=params)


async def collect_async(stream) -> Outcome:
    outcome = Outcome()
    try:
        async for event in stream:
            outcome.events.append(event)
    except Exception as exc:  # the error is what some tests are about
        outcome.error = exc
    return outcome


def collect(route, request=None) -> Outcome:
    from providers.gateway import stream_chat

    return asyncio.run(collect_async(stream_chat(route, request or ask())))
