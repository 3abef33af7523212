"""Incremental Server-Sent Events decoding: bytes → lines → events, robust to any split of the input."""
from dataclasses import dataclass


@dataclass(slots=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it raw bytes as they arrive; it returns the complete events and keeps the rest.

    Lines end in LF, CRLF or CR (the SSE grammar allows all three). Lines are split on bytes
    before decoding, and neither CR nor LF can occur inside a multi-byte UTF-8 sequence, so a
    character split across network reads is decoded only once its line is whole. Comment lines
    (": keep-alive") are counted in `comments` but produce no event.
    """

    __slots__ = ("_buffer", "_event", "_data", "_id", "_retry", "comments")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            # A trailing CR may be the first half of a CRLF still in flight: keep it back.
            if buffer.endswith(b"\r"):
                buffer, held = buffer[:-1], b"\r"
            else:
                held = b""
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buffer.split(b"\n")
            self._buffer = lines.pop() + held
        else:
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
        events: list[ServerSentEvent] = []
        for raw in lines:
            event = self._line(raw)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """At end of stream: an unterminated last line still counts, an undispatched event does not."""
        events = []
        if self._buffer:
            rest, self._buffer = self._buffer, b""
            for raw in rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
                event = self._line(raw)
                if event is not None:
                    events.append(event)
        self._event, self._data, self._id, self._retry = "", [], None, None
        return events

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        if raw[:6] == b"data: ":  # the common case, without the general parse below
            self._data.append(raw[6:].decode("utf-8", errors="replace"))
            return None
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:  # per the SSE spec an event without data lines is dropped
            self._event = ""
            return None
        event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._event, self._data, self._retry = "", [], None
        return event
