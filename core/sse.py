"""Server-sent events framing for every Parley stream: `id:`, `event: type`, `data: json`, and `: ping` on silence.

``sse_response(batches=...)`` writes a generation's batches (``id:`` is each event's ``seq``, a resume point) one
chunk per batch; ``sse_response(events)`` does the same for any async iterator of events; ``numbered_sse_response``
numbers the frames of a stream that interleaves several sources (compare) or has no seq (merge jobs).
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


def sse_frame(frame_id: int, event: dict) -> bytes:
    return f"id: {frame_id}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def _frames_from_batches(batches: AsyncIterator[list[dict]]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(batches):
        async for batch in batches:
            yield "".join(map(encode_event, batch)).encode() if batch else PING


async def _frames(events: AsyncIterator[dict | None], ping_every: float, frame) -> AsyncIterator[bytes]:
    """`frame(number, event)` per event, with a `: ping` after each quiet spell; None events are skipped."""
    loop = asyncio.get_running_loop()
    iterator = aiter(events)
    pending, frame_id, ping_at = None, 0, loop.time() + ping_every
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(iterator))
            # The quiet spell counts from the last frame written, across any None the source yields.
            done, _ = await asyncio.wait({pending}, timeout=max(0.0, ping_at - loop.time()))
            if not done:
                ping_at = loop.time() + ping_every
                yield PING
                continue
            finished, pending = pending, None
            try:
                event = finished.result()
            except StopAsyncIteration:
                return
            if event is None:
                continue
            frame_id += 1
            ping_at = loop.time() + ping_every
            yield frame(frame_id, event)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await iterator.aclose()


async def numbered_frames(events: AsyncIterator[dict | None], ping_every: float | None = None) -> AsyncIterator[bytes]:
    """SSE frames numbered 1, 2, … with a `: ping` after each quiet spell; None events are skipped."""
    async with contextlib.aclosing(_frames(events, ping_every or ping_seconds(), sse_frame)) as frames:
        async for frame in frames:
            yield frame


def _event_stream(frames: AsyncIterator[bytes], headers: dict | None) -> StreamingHttpResponse:
    """A text/event-stream response that proxies and browsers pass through unbuffered."""
    response = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def sse_response(events: AsyncIterator[dict] | None = None, *, batches: AsyncIterator[list[dict]] | None = None,
                 ping_every: float | None = None, headers: dict | None = None) -> StreamingHttpResponse:
    """A stream whose frame ids are the events' own `seq`."""
    if batches is not None:
        frames = _frames_from_batches(batches)
    else:
        frames = _frames(events, ping_every or ping_seconds(), lambda _number, event: encode_event(event).encode())
    return _event_stream(frames, headers)


def numbered_sse_response(events: AsyncIterator[dict | None], *, headers: dict | None = None) -> StreamingHttpResponse:
    """A stream whose frame ids number the response's own frames (not resume points)."""
    return _event_stream(numbered_frames(events), headers)
