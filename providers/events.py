"""The one event type every provider stream is translated into."""
from dataclasses import dataclass, field
from enum import StrEnum


class EventKind(StrEnum):
    TEXT = "content"            # text: the answer delta
    REASONING = "reasoning"     # text: the reasoning delta
    TOOL_CALL = "tool_call"     # data: {"id", "name", "arguments"} — a whole call, assembled from deltas
    CITATIONS = "citations"     # data: {"citations": [url | {"url", "title"}]}
    # data: {"prompt_tokens", "completion_tokens" (reasoning included), "reasoning_tokens", "cached_tokens", "cost"}
    USAGE = "usage"
    # data: {"prompt_tokens", "cached_tokens"} — the prompt's count, once, as soon as the provider tells it (before
    # its USAGE at the end): a reply that ends early (failed, cancelled) is priced from it, its completion estimated
    PROMPT_USAGE = "prompt_usage"
    # data: {"finish_reason"} — the provider's end marker was seen; metadata: what to store on the reply
    # for replay (anthropic_thinking, reasoning_details, gemini_parts, tool_calls)
    FINISH = "finish"


@dataclass(slots=True)
class StreamEvent:
    kind: EventKind
    text: str = ""
    data: dict = field(default_factory=dict)
    # Vendor-only details (e.g. Anthropic thinking signatures) that callers store opaquely for replay.
    metadata: dict | None = None


def prompt_usage(usage: dict) -> StreamEvent:
    """The PROMPT_USAGE event of a usage dict in USAGE's keys."""
    return StreamEvent(EventKind.PROMPT_USAGE, data={"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                                                     "cached_tokens": int(usage.get("cached_tokens") or 0)})
