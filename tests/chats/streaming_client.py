"""Test clients for the streaming endpoints: SSE over httpx and WebSocket over `websockets`, on real sockets."""
import json

import httpx


def parse_sse(text: str) -> list[dict]:
    """Events of an SSE body: dicts with the `id` and `event` of their frame (`_id`, `_event`) merged in."""
    events = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            event = json.loads(fields["data"])
            event["_id"] = fields.get("id")
            event["_event"] = fields.get("event")
            events.append(event)
    return events


async def read_events(response: httpx.Response, *, stop_after: int | None = None) -> list[dict]:
    """Read SSE events from a streaming response, optionally dropping the connection after `stop_after` events."""
    buffer, events = "", []
    async for chunk in response.aiter_text():
        buffer += chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            events.extend(parse_sse(frame + "\n\n"))
            if stop_after is not None and len(events) >= stop_after:
                return events
    return events


def text_of(events: list[dict]) -> str:
    return "".join(event.get("content", "") for event in events if event["type"] == "content")


def story_text(n: int) -> str:
    return "".join(f"w{i} " for i in range(1, n + 1))


def bearer(raw_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_token}"}
