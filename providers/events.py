"""The one event type every provider stream is translated into."""
from dataclasses import dataclass, field
from enum import StrEnum


class EventKind(StrEnum):
    TEXT = "content"            # text: the answer delta
    REASONING = "reasoning"     # text: the reasoning delta
    TOOL_CALL = "tool_call"     # data: {"id", "name", "arguments"} — a whole call, assembled from deltas
    CITATIONS = "citations"     # data: {"citations": [url | {"url", "title"}]}
    USAGE = "usage"             # data: {"prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost"}
    FINISH = "finish"           # data: {"finish_reason"} — the provider's end marker was seen


@dataclass(slots=True)
class StreamEvent:
    kind: EventKind
    text: str = ""
    data: dict = field(default_factory=dict)
    # Vendor-only details (e.g. Anthropic thinking signatures) that callers store opaquely for replay.
    metadata: dict | None = None
