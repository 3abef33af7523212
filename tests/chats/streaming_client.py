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
    """Read SSE events from a streaming response: all of them, or the next `stop_after` (call again for more)."""
    state = response.extensions.setdefault("sse_reader", {"chunks": response.aiter_text(), "buffer": ""})
    events: list[dict] = []
    while True:
        while "\n\n" in state["buffer"]:
            frame, state["buffer"] = state["buffer"].split("\n\n", 1)
            events.extend(parse_sse(frame + "\n\n"))
            if stop_after is not None and len(events) >= stop_after:
                return events
        try:
            state["buffer"] += await anext(state["chunks"])
        except StopAsyncIteration:
            return events


def text_of(events: list[dict]) -> str:
    return "".join(event.get("content", "") for event in events if event["type"] == "content")


def story_text(n: int) -> str:
    return "".join(f"w{i} " for i in range(1, n + 1))


def bearer(raw_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_token}"}
