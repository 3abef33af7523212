"""Clients and readers for the tool-loop tests: completions over SSE, the conversation socket, what the fake got."""
import asyncio
import json

import httpx
import websockets

from chats.models import Message
from chats.services import conversation_create
from tests.chats.streaming_client import bearer, read_events

PROTOCOLS = ["openai", "anthropic", "gemini"]


def client_for(server, user) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=bearer(user.raw_token), timeout=30)


def conversation_with_tools(user, *, model: str, tools: list[str], approval: str | None = None):
    params = {"tools": tools}
    if approval:
        params["tool_approval"] = approval
    return conversation_create(owner=user, default_model=model, params=params)


async def complete(client, conversation, content: str, **body) -> list[dict]:
    async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                             json={"content": content, **body}) as response:
        assert response.status_code == 200, await response.aread()
        return await read_events(response)


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


async def stored_reply(events: list[dict]) -> Message:
    return await Message.objects.aget(pk=events[-1]["message_id"])


def chat_requests(fake_provider) -> list[dict]:
    return [r["json"] for r in fake_provider.requests() if r["method"] == "POST" and r["json"]]


def results_sent(protocol: str, body: dict) -> list[dict]:
    """The tool results a request sends back to the model, read in its protocol's own form."""
    if protocol == "openai":
        return [{"id": m["tool_call_id"], "content": m["content"]} for m in body["messages"] if m["role"] == "tool"]
    if protocol == "anthropic":
        return [{"id": block["tool_use_id"], "content": block["content"], "is_error": block.get("is_error", False)}
                for m in body["messages"] if isinstance(m["content"], list) for block in m["content"]
                if block.get("type") == "tool_result"]
    return [{"name": part["functionResponse"]["name"], "response": part["functionResponse"]["response"]}
            for content in body["contents"] for part in content["parts"] if "functionResponse" in part]


def offered_names(protocol: str, body: dict) -> list[str]:
    if protocol == "openai":
        return [tool["function"]["name"] for tool in body["tools"]]
    if protocol == "anthropic":
        return [tool["name"] for tool in body["tools"]]
    return [d["name"] for d in body["tools"][0]["functionDeclarations"]]


def connect(server, conversation_id, user):
    return websockets.connect(f"{server.ws_url}/ws/conversations/{conversation_id}/",
                              additional_headers=bearer(user.raw_token), open_timeout=10)


async def receive_until(ws, kind: str) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    return frames


async def read_until(response, kind: str) -> list[dict]:
    """The SSE events of an open stream up to the first of `kind` (the stream stays open for the rest)."""
    events = []
    while not of_type(events, kind):
        events += await read_events(response, stop_after=1)
    return events


async def approve_over_rest(client, generation_id, call_id, approve) -> httpx.Response:
    return await client.post(f"/api/v1/generations/{generation_id}/tool-approval/",
                             json={"id": call_id, "approve": approve})
