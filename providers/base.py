"""What a chat request is, where it goes (a Route), and what every wire-protocol adapter provides."""
import base64
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from providers.events import StreamEvent


@dataclass(slots=True)
class Attachment:
    """A file sent with a user message; each adapter renders it in its own wire form, before the text."""

    kind: str            # "image" | "pdf" | "text"
    media_type: str      # sniffed MIME type, e.g. "image/png", "application/pdf", "text/plain"
    name: str = ""       # file name shown to the model (text parts are headed by it)
    data: bytes = field(default=b"", repr=False)  # the bytes (images, PDFs); empty when `url` is set
    text: str = field(default="", repr=False)     # a text file's content, or a PDF's extracted text
    url: str = ""        # a remote image URL (the /v1 gateway's http(s) image_url parts); data empty then


@dataclass(slots=True)
class ChatMessage:
    role: str  # "user" | "assistant" | "tool"
    content: str
    reasoning: str = ""
    metadata: dict = field(default_factory=dict)  # e.g. stored thinking signatures, tool calls
    attachments: list[Attachment] = field(default_factory=list)  # rendered on user messages only


TEXT_HEADING = "File: {name}\n\n"


def attachment_text(attachment: Attachment) -> str:
    """A text attachment (or a PDF's extracted text) as the model reads it: headed by its file name."""
    return TEXT_HEADING.format(name=attachment.name or "attachment") + attachment.text


def data_url(attachment: Attachment) -> str:
    """The attachment's bytes as a `data:<type>;base64,…` URL (OpenAI's image_url and file_data)."""
    return f"data:{attachment.media_type};base64,{base64_of(attachment)}"


def base64_of(attachment: Attachment) -> str:
    return base64.b64encode(attachment.data).decode("ascii")


@dataclass(slots=True)
class ChatRequest:
    messages: list[ChatMessage]
    system: str = ""
    # temperature, max_tokens, top_p, reasoning_effort ("low"|"medium"|"high"), thinking_budget, tools
    params: dict = field(default_factory=dict)


@dataclass(slots=True)
class Route:
    """A resolved destination: which adapter, which base URL, which key, which native model id."""

    provider: str          # slug, e.g. "openrouter" or a custom endpoint's slug
    model: str             # full name, "provider/model-id"
    model_id: str          # what the provider calls it, "model-id"
    base_url: str
    api_key: str = field(repr=False, default="")
    key_source: str = ""   # "user" | "shared" | "env" | ""
    protocol: str = "openai_chat"
    user_endpoint: bool = False  # a user's own custom endpoint: connect-time address checks apply
    user_id: int | None = None   # whose call it is: pricing reads their own catalog where it is theirs


class ProviderAdapter(ABC):
    """One wire protocol. Subclasses provide `stream`, `list_models` and `validate_key`."""

    protocol: str = ""

    @abstractmethod
    def stream(self, route: Route, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield StreamEvents; end with a FINISH event, or raise a ProviderError."""

    @abstractmethod
    async def list_models(self, route: Route) -> list[dict]:
        """Catalog entries: {"id", "provider", "name", "context_length", "pricing", "capabilities"}."""

    @abstractmethod
    async def validate_key(self, route: Route) -> tuple[bool, str]:
        """Ask the provider with its cheapest call whether the key works: (valid, detail)."""


def replay_metadata(message: ChatMessage) -> dict:
    """A stored reply's metadata for replay: the FINISH metadata, whether stored flat or under "provider"."""
    metadata = message.metadata or {}
    nested = metadata.get("provider")
    return {**nested, **metadata} if isinstance(nested, dict) else metadata


class StreamTranslator(ABC):
    """Turns one provider's decoded SSE events into StreamEvents; one instance per stream.

    `feed` returns the events for one SSE event and raises a ProviderError for an error inside the
    stream; it returns a FINISH event once the protocol's end marker is seen. `close` is called
    at end of input and returns what a protocol that ends with the connection (none here) still owes.
    """

    @abstractmethod
    def feed(self, sse) -> list[StreamEvent]:
        """The StreamEvents for one decoded SSE event."""

    def close(self) -> list[StreamEvent]:
        return []


class HttpAdapter(ProviderAdapter):
    """An adapter over HTTP + SSE: subclasses build the call, translate the stream and read errors."""

    @abstractmethod
    def build_call(self, route: Route, request: ChatRequest):
        """The HTTP call (method, URL, headers, JSON body) for this request."""

    @abstractmethod
    def translator(self, route: Route) -> StreamTranslator:
        """A fresh translator for one stream."""

    @abstractmethod
    def error_from_response(self, route: Route, status: int, body: bytes, headers) -> Exception:
        """The ProviderError for an HTTP error answer, in this provider's shape."""

    def whole_response(self, route: Route, body: bytes) -> list[StreamEvent]:
        """A 200 answer that is one JSON document instead of a stream (a server ignoring `stream`, or an
        error wrapped in a 200): its events, ending with FINISH, or a ProviderError. By default an error."""
        raise self.error_from_response(route, 502, body, {})

    async def stream(self, route: Route, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        from providers.transport import stream_events

        # aclosing: when our consumer stops, the upstream response is closed now, not at garbage collection.
        async with contextlib.aclosing(stream_events(self, route, self.build_call(route, request))) as events:
            async for event in events:
                yield event


class ToolCallAssembler:
    """Collects tool-call fragments by index into whole calls."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: dict[int, dict] = {}

    def add(self, index: int, *, id: str | None = None, name: str | None = None, arguments: str = "") -> None:
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if id:
            call["id"] = id
        if name:
            call["name"] = name
        if arguments:
            call["arguments"] += arguments

    def drain(self) -> list[StreamEvent]:
        from providers.events import EventKind

        events = [StreamEvent(EventKind.TOOL_CALL, data=dict(call)) for _, call in sorted(self.calls.items())]
        self.calls.clear()
        return events
