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
