"""Server-sent events: the SPEC §4 framing (`id: seq`, `event: type`, `data: json`) with a ping every 15 s of silence.

``sse_response(events)`` turns any async iterator of event dicts into a streaming response (compare tags its events
first); ``sse_response(batches=...)`` takes the batches of ``chats.generations.generation_event_batches``, which
write a whole batch in one chunk.
"""
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import StreamingHttpResponse

PING_SECONDS = 15.0
PING = b": ping\n\n"


def ping_seconds() -> float:
    """Seconds of silence before a `: ping` (PARLEY_SSE_PING_SECONDS, default 15)."""
    return float(getattr(settings, "PARLEY_SSE_PING_SECONDS", PING_SECONDS))


def encode_event(event: dict) -> str:
    seq = event.get("seq")
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event.get('type', 'message')}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def _frames_from_batches(batches: AsyncIterator[list[dict]]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(batches):
        async for batch in batches:
            yield "".join(map(encode_event, batch)).encode() if batch else PING


async def _frames_from_events(events: AsyncIterator[dict], ping_seconds: float) -> AsyncIterator[bytes]:
    iterator = aiter(events)
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=ping_seconds)
            if not done:
                yield PING
                continue
            finished, pending = pending, None
            try:
                event = finished.result()
            except StopAsyncIteration:
                return
            yield encode_event(event).encode()
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if hasattr(iterator, "aclose"):
            await iterator.aclose()


def sse_response(events: AsyncIterator[dict] | None = None, *, batches: AsyncIterator[list[dict]] | None = None,
                 ping_every: float | None = None, headers: dict | None = None) -> StreamingHttpResponse:
    """A text/event-stream response that proxies and browsers pass through unbuffered."""
    if batches is not None:
        frames = _frames_from_batches(batches)
    else:
        frames = _frames_from_events(events, ping_every or ping_seconds())
    response = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response[name] = value
    return response
