"""Server-sent events of merge jobs and compares: frame ids number the response's own frames, not a resume point.

Framing and keep-alive follow ``chats.sse`` (same ping, same interval setting); only the ids differ, since a
compare interleaves several generations whose own ``seq`` stays in each event.
"""
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from chats.sse import PING, ping_seconds


def sse_frame(frame_id: int, event: dict) -> bytes:
    return f"id: {frame_id}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def numbered_frames(events: AsyncIterator[dict | None], ping_every: float | None = None) -> AsyncIterator[bytes]:
    """SSE frames numbered 1, 2, … with a `: ping` after each quiet spell; None events are skipped."""
    ping_every = ping_every or ping_seconds()
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
            yield sse_frame(frame_id, event)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await iterator.aclose()


def event_stream_response(events: AsyncIterator[dict | None], *, headers: dict | None = None) -> StreamingHttpResponse:
    """A text/event-stream response that proxies and browsers pass through unbuffered."""
    response = StreamingHttpResponse(numbered_frames(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response[name] = value
    return response
